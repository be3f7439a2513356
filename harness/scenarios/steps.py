"""A scenario step's parts that are not faults: its traffic, one small function per kind found in
:data:`TRAFFIC`, and the observation window around it (what is read before the traffic and after
it, for the expectations to compare).

A new kind of traffic is one function and one entry in :data:`TRAFFIC` (plus its field in
:class:`harness.scenarios.spec.Step`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

import httpx

from harness.dependencies import Dependencies, Snapshot
from harness.errorlog import ErrorLog
from harness.leaks import LeakCheck
from harness.load import LoadSpec, run_load
from harness.metrics import Metrics, scrape
from harness.scenarios.checks import Observed
from harness.faults.registry import Targets
from harness.scenarios.observe import needs_dependencies
from harness.scenarios.spec import Expect, Step
from harness.scenarios.traffic import Outcome, send, send_concurrently, send_pipelined, send_raw

if TYPE_CHECKING:
    from harness.containers import OpenRestyContainer
    from harness.workers import WorkerTable

TrafficKind = Literal["concurrent", "sequence", "pipelined", "raw", "load", "leak"]


@dataclass
class Traffic:
    """What a traffic function gets: the step, its OpenResty and dependencies, where the outcomes
    go (``seen``) and the numbers and series the report shows."""

    step: Step
    nginx: "OpenRestyContainer"
    seen: Observed
    timeout: float
    client: Callable[[str], httpx.Client]  # one kept-alive client per base URL
    dependencies: Callable[[], Dependencies]  # counters of what OpenResty depends on (a leak step's)
    numbers: dict[str, float] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)


def traffic_kind(step: Step) -> Optional[TrafficKind]:
    """Which kind of traffic ``step`` sends (None: none, e.g. a preflight step)."""
    if step.request is not None and step.concurrent:
        return "concurrent"
    if step.request is not None or step.requests:
        return "sequence"
    for kind in ("pipelined", "raw", "load", "leak"):
        if getattr(step, kind):
            return kind
    return None


def _concurrent(t: Traffic) -> None:
    assert t.step.request is not None and t.step.concurrent is not None
    t.seen.outcomes = send_concurrently(t.nginx.base_url, t.step.request, t.step.concurrent, t.timeout)


def _sequence(t: Traffic) -> None:
    client = t.client(t.nginx.base_url)
    nginx = t.nginx

    def url_for(port: Optional[int], path: str) -> str:
        return path if port is None else nginx.url(port, path)
    t.seen.outcomes = [send(client, request, url_for) for request in t.step.sequence]


def _pipelined(t: Traffic) -> None:
    t.seen.outcomes = send_pipelined(t.nginx.base_url, t.step.pipelined, t.timeout)


def _raw(t: Traffic) -> None:
    assert t.step.raw is not None
    t.seen.outcomes = [send_raw(t.nginx.base_url, t.step.raw, t.timeout)]


def _load(t: Traffic) -> None:
    spec = t.step.load
    assert spec is not None
    load = t.seen.load = run_load(t.nginx.base_url, LoadSpec(
        users=spec.users, duration=spec.duration, rate=spec.rate, paths=tuple(spec.paths),
        processes=spec.processes, client=spec.client))
    p = load.percentiles_ms
    t.series = load.series
    t.numbers.update({"load req": load.requests, "req/s": round(load.rps), "p99 ms": round(p["p99"], 1),
                      "failed": load.failed})


def _leak(t: Traffic) -> None:
    spec = t.step.leak
    assert spec is not None
    client = t.client(t.nginx.base_url)

    def send_round(n: int) -> None:
        for _ in range(n):
            client.get(spec.path)
    leak = t.seen.leak = LeakCheck(t.nginx, t.seen.redis, dependencies=t.dependencies()).run(
        send_round, spec.requests_per_round, spec.rounds)
    for verdict in leak.verdicts.values():
        t.numbers[f"{verdict.metric}/1k"] = round(verdict.per_1000_requests, 1)
    for usage in leak.usage.values():
        t.numbers[f"{usage.dependency} conn/req"] = round(usage.new_connections_per_request, 3)


TRAFFIC: dict[TrafficKind, Callable[[Traffic], None]] = {
    "concurrent": _concurrent, "sequence": _sequence, "pipelined": _pipelined, "raw": _raw,
    "load": _load, "leak": _leak,
}


def send_traffic(traffic: Traffic) -> None:
    """Send ``traffic.step``'s traffic (nothing for a step without any)."""
    kind = traffic_kind(traffic.step)
    if kind is not None:
        TRAFFIC[kind](traffic)


def counters_of(targets: Targets) -> Dependencies:
    """Counters of what a scenario's OpenResty depends on: its Redis, fault proxy and DNS server."""
    return Dependencies(targets.nginx, redis=targets.redis,
                        proxies=[targets.proxy] if targets.proxy is not None else [], dns=targets.dns)


class ObservationWindow:
    """What ``expect`` compares before and after some traffic: the worker table (when workers are
    expected), metrics, dependency counters (when expected, or ``always_count``). :meth:`open` takes
    the "before" readings (before any fault is applied); :meth:`observed` makes the :class:`Observed`
    the traffic fills; :meth:`close` puts the "after" readings into it (metrics once the workers
    settled, the counters' delta), faults still held."""

    def __init__(self, targets: Targets, expect: Expect, always_count: bool = False) -> None:
        self.targets = targets
        self.expect = expect
        self.always_count = always_count
        self.workers_before: Optional["WorkerTable"] = None
        self.metrics_before: Optional[Metrics] = None
        self._counters: Optional[Dependencies] = None
        self._counted: Optional[Snapshot] = None
        self._seen: Optional[Observed] = None

    @property
    def nginx(self) -> "OpenRestyContainer":
        """The OpenResty under observation (a scenario's targets always have one)."""
        assert self.targets.nginx is not None
        return self.targets.nginx

    @property
    def reads_before(self) -> bool:
        """Whether entering read anything of OpenResty (a worker table or metrics)."""
        return self.workers_before is not None or self.metrics_before is not None

    def open(self) -> "ObservationWindow":
        nginx = self.nginx
        # a worker table costs an exec through the engine (~50 ms): taken when something needs it
        self.workers_before = nginx.workers() if self.expect.workers is not None else None
        self.metrics_before = scrape_metrics(nginx, self.expect)
        if self.always_count or needs_dependencies(self.expect):
            self._counters = counters_of(self.targets)
            self._counted = self._counters.snapshot()
        return self

    def observed(self, log: ErrorLog, outcomes: Optional[list[Outcome]] = None) -> Observed:
        self._seen = Observed(self.nginx, log, self.workers_before, list(outcomes or []), redis=self.targets.redis,
                              metrics_before=self.metrics_before)
        return self._seen

    def close(self) -> None:
        seen = self._seen
        if seen is None:
            return
        if self.expect.metrics is not None:
            self.nginx.settle()
            seen.metrics_after = scrape_metrics(self.nginx, self.expect)
        if self._counters is not None and self._counted is not None:
            seen.dependencies = self._counters.delta(self._counted)


def scrape_metrics(nginx: "OpenRestyContainer", expect: Expect) -> Optional[Metrics]:
    """The metrics ``expect`` names (None when it names none, or they cannot be read)."""
    if expect.metrics is None:
        return None
    try:
        return scrape(nginx.url(expect.metrics.port, expect.metrics.path))
    except (httpx.HTTPError, ValueError):
        return None
