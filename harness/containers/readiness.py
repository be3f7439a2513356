"""Readiness as a strategy (testcontainers' ``WaitStrategy`` is the model): :class:`GenerationReady`
waits until an OpenResty serves a config generation, asking what :class:`Awaited` declares of the
container and nothing else."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn, Optional, Protocol

import httpx

from harness.containers.base import Reach
from harness.errors import ReadinessTimeout
from harness.nginx_conf import CONTROL_PATH
from harness.waiting import wait_for

Ask = Callable[..., Optional[dict[str, Any]]]  # a control request: (timeout=seconds) -> answer or None


class ControlProbe(Protocol):
    """The container's control channel, as far as readiness asks it."""

    def url(self, path: str) -> str: ...
    def status(self, timeout: float = ...) -> Optional[dict[str, Any]]: ...
    def generation(self, timeout: float = ...) -> Optional[dict[str, Any]]: ...


class Awaited(Protocol):
    """What :class:`GenerationReady` needs of the container it waits for."""

    @property
    def name(self) -> str: ...
    @property
    def reach(self) -> Reach: ...
    @property
    def channel(self) -> ControlProbe: ...
    def is_quiet(self) -> bool: ...  # no Lua of ours in its workers: ask only for the generation
    def state(self) -> dict[str, Any]: ...  # the engine's view (Status, ExitCode)
    def raise_exited(self, state: dict[str, Any]) -> NoReturn: ...
    def logs_text(self) -> str: ...
    def error_log_tail(self, lines: int = ...) -> str: ...


@dataclass(frozen=True)
class GenerationReady:
    """Ready when the control server answers with the awaited generation: one of its workers accepts
    connections. While starting, a container that exits is reported at once (the engine asked at most
    every ``exit_check_every`` seconds, and only while the answer is not yet right), and a quiet
    fixture's workers get no Lua of ours (only the version is asked: ``complete_identity`` asks for
    the rest once the test is over). On timeout: the error.log and container output, and a hint."""

    interval: float = 0.01
    max_interval: float = 0.05
    exit_check_every: float = 0.05

    def wait(self, target: Awaited, generation: int, timeout: float, starting: bool) -> dict[str, Any]:
        """The control server's answer from ``generation`` (the container's identity), within ``timeout``."""
        attempt = _Attempt(self, target, generation, starting)
        what = f"{target.name} to serve config generation {generation} at {target.channel.url(CONTROL_PATH)}"
        try:
            return wait_for(attempt.probe, timeout=timeout, what=what, on_timeout=attempt.explain,
                            interval=self.interval, max_interval=self.max_interval)
        except ReadinessTimeout as exc:
            raise ReadinessTimeout(f"{exc.message}: is a worker stuck in init_worker_by_lua or a blocking "
                                   f"call? see error.log and the container output below, or raise "
                                   f"HARNESS_START_TIMEOUT", exc.detail) from None


@dataclass
class _Attempt:
    """One wait: the probe, when the engine was last asked, the explanation on timeout."""

    strategy: GenerationReady
    target: Awaited
    generation: int
    starting: bool
    engine_checked: float = 0.0
    ask: Ask = field(init=False)

    def __post_init__(self) -> None:
        channel = self.target.channel
        self.ask = channel.generation if self.starting and self.target.is_quiet() else channel.status

    def probe(self) -> Optional[dict[str, Any]]:
        try:
            info = self.ask(timeout=1.0)
        except httpx.HTTPError:
            self.exited_check()
            raise
        if info is not None and info.get("generation") == self.generation:
            return info
        self.exited_check()
        return None

    def exited_check(self) -> None:
        if self.starting and time.monotonic() - self.engine_checked >= self.strategy.exit_check_every:
            self.engine_checked = time.monotonic()
            state = self.target.state()
            if state.get("Status") in ("exited", "dead"):
                self.target.raise_exited(state)

    def explain(self) -> str:
        hint = ("if the address itself is unreachable from here, try HARNESS_REACH=published"
                if self.target.reach.mode == "direct" else "")
        output = "\n".join(self.target.logs_text().splitlines()[-20:])
        return "\n".join(x for x in (hint, self.target.error_log_tail(),
                                     f"--- container output ---\n{output}" if output else "") if x)
