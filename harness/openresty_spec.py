"""OpenRestySpec: what an OpenResty container must be (a fixture and how it runs), in one frozen value.

Every way of asking for an OpenResty builds one, and only one class defines the options, their
defaults and their docs (:class:`OpenRestyOptions`):

- Python, the documented way: the ``openresty`` fixture, ``openresty("hello", workers=2)`` or
  ``openresty.inline("location / { ... }")``; ``@pytest.mark.openresty("hello", workers=2)`` with the
  ``nginx``/``http`` fixtures takes the same keywords.
- YAML, the documented way: a scenario's ``options:`` (the same fields, see docs/scenario-reference.md).
- Underneath (both of the above, the perf variants and the prefetch plans): ``Stage.openresty(spec)``
  or ``Stage.openresty(fixture, **options)``, which builds the spec from the keywords.

The pool keys running containers by :class:`Shape`: what must match for a container to take another
fixture by HUP reload.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Union

from docker.types import Ulimit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errorlog import LogLevel
from harness.errors import HarnessError
from harness.nginx_conf import Fixture

Workers = Union[int, Literal["auto"]]


@dataclass(frozen=True)
class Limits:
    """Resource limits of the container (None: the engine's default), from :class:`OpenRestyOptions`."""

    memory: Optional[str]
    cpus: Optional[float]
    nofile: Optional[int]

    def docker_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.memory:
            kw["mem_limit"] = self.memory
            kw["memswap_limit"] = self.memory
        if self.cpus:
            kw["nano_cpus"] = int(self.cpus * 1e9)
        if self.nofile:
            kw["ulimits"] = [Ulimit(name="nofile", soft=self.nofile, hard=self.nofile)]
        return kw


@dataclass(frozen=True)
class Shape:
    """What must match for a running container to be reused with another fixture (the pool's key)."""

    image_id: str
    env: tuple[tuple[str, str], ...]  # sorted, service addresses included
    services: tuple[str, ...]  # the declared services (sorted): what a per-container companion serves
    limits: Limits
    ports: tuple[int, ...]  # the extra container ports
    init: bool
    mounts: tuple[tuple[str, str], ...]
    workdir: str


class OpenRestyOptions(BaseModel):
    """How the OpenResty container runs (Python keywords and YAML ``options:`` alike)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: Workers = Field(1, description="worker_processes (auto: nginx counts the CPUs)")
    env: dict[str, str] = Field(default_factory=dict, description="environment, also ${NAME} in snippets")
    memory: Optional[str] = Field(None, description='memory limit, e.g. "160m"')
    cpus: Optional[float] = Field(None, gt=0, description="CPU quota")
    nofile: Optional[int] = Field(None, gt=0, description="open files limit")
    ports: tuple[int, ...] = Field((), description="more container ports to reach (metrics: 8099)")
    error_log_level: LogLevel = Field("info", description="error_log level of the rendered config")
    init: bool = Field(False, description="an init as PID 1, so the master is an ordinary process "
                                          "(a binary upgrade needs it)")
    mounts: tuple[tuple[str, str], ...] = Field(
        (), description="host directories bind-mounted read-only, as (host path, container path) pairs")
    workdir: str = Field("", description="nginx's working directory, so relative paths in the config resolve "
                                         "from it (empty: /)")
    image: str = Field("", description="this image reference instead of the session's OpenResty image")
    reuse: Optional[bool] = Field(None, description="false: a fresh container, removed after use "
                                                    "(default: HARNESS_REUSE, HUP reuse)")
    services: tuple[str, ...] = Field(
        (), description="session services it uses, started before it; their addresses come as env (redis: "
                        "REDIS_HOST/REDIS_PORT, dns: DNS_SERVER, memcached: MEMCACHED_HOST/MEMCACHED_PORT)")

    @field_validator("env", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else value

    @field_validator("services", mode="before")
    @classmethod
    def _known_services(cls, value: Any) -> Any:
        from harness.services import checked  # the registry imports the service containers, which import this

        return checked([value] if isinstance(value, str) else value) if isinstance(value, (str, list, tuple, set)) else value

    @field_validator("mounts", mode="before")
    @classmethod
    def _text_paths(cls, value: Any) -> Any:
        return tuple((str(host), str(path)) for host, path in value) if isinstance(value, (list, tuple)) else value

    @property
    def limits(self) -> Limits:
        return Limits(memory=self.memory, cpus=self.cpus, nofile=self.nofile)

    def options(self) -> dict[str, Any]:
        """The option fields only, as keywords (``OpenRestySpec.of(fixture, **options.options())``)."""
        return {name: getattr(self, name) for name in OpenRestyOptions.model_fields}


OPTION_NAMES: tuple[str, ...] = tuple(OpenRestyOptions.model_fields)


class OpenRestySpec(OpenRestyOptions):
    """An OpenResty container: its fixture and its :class:`OpenRestyOptions`."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    fixture: Fixture

    @classmethod
    def of(cls, fixture: Fixture, **options: Any) -> "OpenRestySpec":
        """The spec for ``fixture`` with these keyword options; a wrong one is a one-line error."""
        try:
            return cls(fixture=fixture, **options)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
            raise HarnessError(f"OpenResty options for {fixture.name!r}: {problems} "
                               f"(options: {', '.join(OPTION_NAMES)})") from None

    def with_options(self, **options: Any) -> "OpenRestySpec":
        """A copy with some options changed (validated again)."""
        return OpenRestySpec.of(self.fixture, **{**self.options(), **options})

    def shape(self, image_id: str, env: Mapping[str, str]) -> Shape:
        """The pool key of a container built from this spec on image ``image_id`` with environment
        ``env`` (this spec's env plus the session's service addresses)."""
        return Shape(image_id, tuple(sorted(env.items())), self.services, self.limits,
                     tuple(self.ports), self.init, self.mounts, self.workdir)
