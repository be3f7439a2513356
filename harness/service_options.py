"""The options of the declared services, each defined once as a field of a frozen value object:
``@pytest.mark.redis_topology(**options)``, YAML ``services: [{redis_sentinel: {replicas: 2}}]``
and a ``.t`` run's layout all become these (:meth:`ServiceOptions.parse`), and the service classes
take them. A service declared with options is a service of its own in the session (its key:
:func:`harness.services.declare`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from harness.errors import HarnessError

O = TypeVar("O", bound="ServiceOptions")
Users = tuple[tuple[str, str], ...]  # ACL users (name, password), sorted by name

MASTER_NAME = "mymaster"


def users_of(value: Any) -> Any:
    """``{name: password}`` (YAML, a marker) or ``"name:password,..."`` (the command line) as :data:`Users`."""
    if isinstance(value, str):
        pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
        if any(len(p) != 2 or not p[0].strip() for p in pairs):
            raise HarnessError(f"ACL users {value!r}: give NAME:PASSWORD,...")
        return tuple(sorted((name.strip(), password) for name, password in pairs))
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class ServiceOptions:
    """The base of every service's options (a service without options takes this one)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls: type[O], given: Optional[Mapping[str, Any]] = None, base: Optional[O] = None) -> O:
        """``given`` over ``base`` (default: this class's defaults); an unknown option or a bad value
        is a one-line :class:`HarnessError` naming the options there are."""
        given = dict(given or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(given) - set(names))
        if unknown:
            known = ", ".join(names) or "none"
            raise HarnessError(f"unknown option {', '.join(map(repr, unknown))} of {cls.__name__} (options: {known})")
        for key in ("users", "sentinel_users"):
            if key in given:
                given[key] = users_of(given[key])
        merged = {**({f.name: getattr(base, f.name) for f in dataclasses.fields(cls)} if base is not None else {}),
                  **given}
        try:
            return TypeAdapter(cls).validate_python(merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
                                 for e in exc.errors())
            raise HarnessError(f"{cls.__name__}: {problems}") from None

    def changed(self, base: "ServiceOptions") -> dict[str, Any]:
        """The options that differ from ``base`` (plain data: what a service's key spells)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return dict(value)
    return value


@dataclass(frozen=True)
class LocalLayout:
    """A topology laid out as a Test::Nginx suite's Makefile starts it: every member listens on its
    own ``127.0.0.1`` port of one network namespace and announces that address, so what Sentinel
    hands out (``127.0.0.1:6380``) is true there and, through the companion, in OpenResty's."""

    master: int
    replicas: tuple[int, ...] = ()
    sentinels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        ports = [self.master, *self.replicas, *self.sentinels]
        if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
            raise HarnessError(f"a layout's ports must be distinct TCP ports, got {ports}")

    @property
    def nodes(self) -> tuple[int, ...]:
        return (self.master, *self.replicas)

    @property
    def ports(self) -> tuple[int, ...]:
        return (*self.nodes, *self.sentinels)


@dataclass(frozen=True)
class RedisOptions(ServiceOptions):
    """The single Redis: ACL ``users`` besides the default user (which stays open), and a unix
    ``socket``: the path where OpenResty finds it (the directory is shared with the container)."""

    users: Users = ()
    socket: str = ""

    def __post_init__(self) -> None:
        if self.socket and not self.socket.startswith("/"):
            raise HarnessError(f"socket {self.socket!r}: give an absolute path")


@dataclass(frozen=True)
class ReplicatedOptions(ServiceOptions):
    """A master and ``replicas`` replicas; ``users`` on every node; ``layout``: on 127.0.0.1 ports."""

    replicas: int = 1
    users: Users = ()
    layout: Optional[LocalLayout] = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise HarnessError(f"a replicated Redis needs at least one replica (replicas={self.replicas}): "
                             "pass replicas=1 or more")
        if self.layout is not None and len(self.layout.replicas) != self.replicas:
            raise HarnessError(f"the layout has {len(self.layout.replicas)} replica ports for {self.replicas} replicas")


@dataclass(frozen=True)
class SentinelOptions(ReplicatedOptions):
    """The above watched by ``sentinels`` Sentinels (``quorum``, ``down_after_ms``,
    ``failover_timeout_ms``), the master named ``master_name``; ``sentinel_users`` on every Sentinel."""

    sentinels: int = 3
    quorum: int = 2
    down_after_ms: int = 1000
    failover_timeout_ms: int = 3000
    master_name: str = MASTER_NAME
    sentinel_users: Users = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.quorum <= self.sentinels:
            raise HarnessError(f"quorum {self.quorum} cannot be reached by {self.sentinels} sentinels: "
                             "pass 1 <= quorum <= sentinels")
        if self.layout is not None and len(self.layout.sentinels) != self.sentinels:
            raise HarnessError(f"the layout has {len(self.layout.sentinels)} Sentinel ports for {self.sentinels} sentinels")


@dataclass(frozen=True)
class ClusterOptions(ServiceOptions):
    """``masters`` masters with ``replicas`` replicas each, ``node_timeout_ms``."""

    masters: int = 3
    replicas: int = 1
    node_timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.masters < 3:
            raise HarnessError(f"a Redis Cluster needs at least 3 masters (masters={self.masters}): pass masters=3 or more")
