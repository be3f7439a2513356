"""What one test gets: an OpenResty factory that hands containers back after the test, and an
httpx client that binds to the test's OpenResty on its first request."""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import httpx

from harness.containers import OpenRestyContainer
from harness.errorlog import LogEntry, Match, excerpt
from harness.errors import HarnessError
from harness.workers import WorkerTable
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec
from harness.stage import Stage


class OpenRestyFactory:
    """The ``openresty`` fixture, the documented way to start an OpenResty from Python:
    ``openresty("redis-counter", workers=2)``, or ``openresty.inline("location / { ... }")``.

    The keywords are :class:`~harness.openresty_spec.OpenRestyOptions` (``workers``, ``env``,
    ``memory``, ``cpus``, ``nofile``, ``ports``, ``error_log_level``, ``init``, ``image``,
    ``reuse``, ``services``); ``@pytest.mark.openresty(fixture, **options)`` takes the same. The
    services the test declares (its ``redis``/``dns``/``memcached`` fixtures) are added to every
    call's ``services``, so those OpenResty get their addresses. Each call builds an
    :class:`~harness.openresty_spec.OpenRestySpec` and asks the stage's pool for it. Containers go
    back to the pool when the test ends; their ``log`` cursor starts at the hand-out.
    """

    def __init__(self, stage: Stage, marker: Optional[tuple[tuple[Any, ...], Mapping[str, Any]]] = None, image: str = "",
                 services: Sequence[str] = ()) -> None:
        self.stage = stage
        self.image = image  # the default image of this test's containers (a matrix cell's); empty: the session's
        self.services = tuple(services)  # declared by the test (its service fixtures)
        self.started: list[OpenRestyContainer] = []
        self.marker = marker  # (args, kwargs) of @pytest.mark.openresty, if any
        self._marked: Optional[OpenRestyContainer] = None
        self.before: dict[int, WorkerTable] = {}  # id(container) -> worker table at handout

    def __call__(self, fixture: str | Path | Fixture | OpenRestySpec, **options: Any) -> OpenRestyContainer:
        if self.image and not options.get("image"):
            options["image"] = self.image
        if self.services:
            given = options.get("services") or (fixture.services if isinstance(fixture, OpenRestySpec) else ())
            options["services"] = (*([given] if isinstance(given, str) else given), *self.services)
        container = self.stage.openresty(fixture, **options)
        self.before[id(container)] = container.workers()
        self.started.append(container)
        return container

    def inline(self, config: str = "", *, http_config: str = "", main_config: str = "",
               lua: Optional[dict[str, str]] = None, **options: Any) -> OpenRestyContainer:
        """Test::Nginx style: the server block body (and optional http/main snippets, Lua modules) inline."""
        fixture = Fixture.inline(config=config, http_config=http_config, main_config=main_config, lua=lua)
        return self(fixture, **options)

    def marked(self) -> OpenRestyContainer:
        """The OpenResty that ``@pytest.mark.openresty(...)`` declares, started once per test."""
        if self.marker is None:
            raise HarnessError("this needs @pytest.mark.openresty('fixture-name', ...) on the test")
        if self._marked is None:
            args, kwargs = self.marker
            self._marked = self(*args, **kwargs)
        return self._marked

    @property
    def last(self) -> Optional[OpenRestyContainer]:
        return self.started[-1] if self.started else None

    def log_problems(self, allowed: Sequence[Match]) -> list[tuple[OpenRestyContainer, list[LogEntry]]]:
        """crit/alert/emerg entries and Lua runtime errors each container logged during the test."""
        found = []
        for container in self.started:
            if container.running():
                problems = container.log_since_hand_out().problems(allowed)
                if problems:
                    found.append((container, problems))
        return found

    def release_all(self) -> None:
        while self.started:
            self.stage.release(self.started.pop())

    def close(self, policy: "LogProblemPolicy") -> Optional[str]:
        """Check error.log as ``policy`` says, then give every container back; returns why the test
        fails (None: it does not)."""
        try:
            problems = [] if policy.allow_all else self.log_problems(policy.allowed)
        finally:
            self.release_all()
        return policy.failure(problems)

    def evidence(self) -> list[tuple[str, str]]:
        """Report sections for a failed test: each container's error.log since the hand-out, its
        worker table then and now, and the tail of its output."""
        sections: list[tuple[str, str]] = []
        for container in self.started:
            try:
                sections.append((f"error.log of {container.name} (this test)",
                                 container.read_error_log(container.handed_out_at, settle=0.5).text))
                before = self.before.get(id(container))
                if before is not None:
                    sections.append((f"workers of {container.name} at hand-out", before.format()))
                sections.append((f"workers of {container.name} now", container.workers(0.2).format()))
                logs = "\n".join(container.logs_text().splitlines()[-50:])
                if logs.strip():
                    sections.append((f"container output of {container.name}", logs))
            except Exception as exc:  # noqa: BLE001 - the report must not hide the failure
                sections.append((f"{container.name}", f"could not read: {exc}"))
        return sections


@dataclass(frozen=True)
class LogProblemPolicy:
    """Which error.log problems ([crit]/[alert]/[emerg], Lua runtime errors) a test tolerates:
    ``@pytest.mark.allow_log_problems(*patterns)`` allows those matching a pattern, or all of them
    without patterns; no marker allows none."""

    allow_all: bool = False
    allowed: tuple[Match, ...] = ()

    @classmethod
    def from_marker(cls, marker: Optional[Any]) -> "LogProblemPolicy":
        if marker is None:
            return cls()
        return cls(allow_all=not marker.args, allowed=tuple(marker.args))

    def failure(self, problems: list[tuple[OpenRestyContainer, list[LogEntry]]]) -> Optional[str]:
        if not problems:
            return None
        text = "\n".join(f"--- {c.name} ---\n{excerpt(entries)}" for c, entries in problems)
        return ("error.log has [crit]/[alert]/[emerg] entries or Lua runtime errors; mark the test "
                f"@pytest.mark.allow_log_problems(pattern) if they are expected:\n{text}")


class BoundClient(httpx.Client):
    """An ``httpx.Client`` whose ``base_url`` is the test's OpenResty, looked up on first use."""

    def __init__(self, bind: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bind = bind

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        if not str(self.base_url):
            self.base_url = self._bind()
        return super().build_request(*args, **kwargs)


NO_TARGET = ("the http fixture has no OpenResty to talk to: mark the test "
             "@pytest.mark.openresty('fixture-name') or call openresty(...) before the first request")


def binder(factory: OpenRestyFactory) -> Callable[[], str]:
    """The base URL the http fixture binds to: the marked fixture app, else the last one started."""
    def bind() -> str:
        if factory.marker is not None:
            return factory.marked().base_url
        if factory.last is None:
            raise HarnessError(NO_TARGET)
        return factory.last.base_url
    return bind
