"""Leak verdicts: drive traffic in rounds, sample after each, fit a slope, compare with a threshold.

Unlike a printed slope, the verdict fails the test: ``LeakCheck(nginx, redis).run(send).assert_no_leak()``.
Growth is stated per 1000 requests, so the thresholds do not depend on round sizes; a metric must
also grow by more than a floor over the measured rounds, so one allocator step is not a leak.

The report also tells connection churn (no leak: a new connection per request, closed at its end)
per dependency: ``report.usage["redis"].new_connections_per_request`` and ``.pool_reuse`` over the
measured rounds, against 0.05 by default; ``report.assert_no_churn()``.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from harness.dependencies import Delta, Dependencies, Usage

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import OpenRestyContainer, RedisContainer

# Growth per 1000 requests above which a metric counts as leaking...
DEFAULT_THRESHOLDS: dict[str, float] = {
    "worker_fds": 5.0,          # open files, summed over the workers
    "redis_clients": 5.0,       # connections Redis sees from this OpenResty
    "worker_rss_kb": 1024.0,    # resident memory, summed over the workers
}
# ...provided it also grew by more than this over the measured rounds: one allocator step (LuaJIT
# maps memory in chunks of hundreds of KB) or one extra pooled connection is not a leak.
DEFAULT_FLOORS: dict[str, float] = {"worker_fds": 3.0, "redis_clients": 3.0, "worker_rss_kb": 1024.0}


@dataclass(frozen=True)
class LeakSample:
    requests: int  # requests sent so far (x axis)
    values: Mapping[str, float]


@dataclass(frozen=True)
class LeakVerdict:
    metric: str
    per_1000_requests: float
    threshold: float
    values: tuple[float, ...]
    floor: float = 0.0

    @property
    def growth(self) -> float:
        return self.values[-1] - self.values[0]

    @property
    def leaking(self) -> bool:
        return self.per_1000_requests > self.threshold and self.growth > self.floor

    def __str__(self) -> str:
        word = "LEAK" if self.leaking else "ok"
        return (f"{self.metric}: {self.per_1000_requests:+.1f} per 1000 requests (threshold {self.threshold:g}), "
                f"{self.growth:+g} in all (floor {self.floor:g}) {word}; "
                f"samples {', '.join(f'{v:g}' for v in self.values)}")


def slope_per_1000(xs: list[float], ys: list[float]) -> float:
    if len(set(xs)) < 2:
        raise ValueError("a slope needs samples at two or more request counts")
    return statistics.linear_regression(xs, ys).slope * 1000.0


@dataclass
class LeakReport:
    samples: list[LeakSample]
    thresholds: Mapping[str, float]
    warmup: int
    floors: Mapping[str, float] = field(default_factory=dict)
    verdicts: dict[str, LeakVerdict] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)  # dependency -> new connections per request
    connections: Optional[Delta] = None  # the dependencies' counters over the measured rounds

    def __post_init__(self) -> None:
        measured = self.samples[self.warmup:]
        xs = [float(s.requests) for s in measured]
        for metric in measured[0].values:
            ys = [float(s.values[metric]) for s in measured]
            self.verdicts[metric] = LeakVerdict(metric, slope_per_1000(xs, ys),
                                                self.thresholds.get(metric, float("inf")), tuple(ys),
                                                self.floors.get(metric, 0.0))

    @property
    def leaking(self) -> list[LeakVerdict]:
        return [v for v in self.verdicts.values() if v.leaking]

    @property
    def churning(self) -> list[Usage]:
        return [u for u in self.usage.values() if u.churning]

    def format(self) -> str:
        lines = [str(v) for v in self.verdicts.values()] + [str(u) for u in self.usage.values()]
        if self.connections is not None:
            lines.append(self.connections.format())
        return "\n".join(lines)

    def assert_no_churn(self) -> None:
        """No dependency got more new connections per request than its threshold (pools are reused)."""
        if self.churning:
            raise AssertionError("connection churn:\n" + self.format())

    def assert_churns(self, *dependencies: str) -> None:
        """For the faulty side: each named dependency ("redis", "proxy.<route>") over its threshold."""
        missing = [d for d in dependencies if d not in self.usage or not self.usage[d].churning]
        if missing:
            raise AssertionError(f"expected connection churn to {', '.join(missing)}:\n" + self.format())

    def assert_no_leak(self) -> None:
        if self.leaking:
            raise AssertionError("leak detected:\n" + self.format())

    def assert_leaks(self, *metrics: str) -> None:
        """For the faulty side of a test: each named metric must be over its threshold."""
        missing = [m for m in metrics if not self.verdicts[m].leaking]
        if missing:
            raise AssertionError(f"expected a leak in {', '.join(missing)}:\n" + self.format())


class LeakCheck:
    """Samples worker FDs and RSS (and Redis clients from this OpenResty, given a Redis) between rounds;
    reads the dependencies' connection counters before and after the measured rounds (given
    ``dependencies``, else the Redis given)."""

    def __init__(self, nginx: "OpenRestyContainer", redis: Optional["RedisContainer"] = None,
                 thresholds: Optional[Mapping[str, float]] = None, floors: Optional[Mapping[str, float]] = None,
                 dependencies: Optional[Dependencies] = None,
                 connection_thresholds: Optional[Mapping[str, float]] = None) -> None:
        self.nginx = nginx
        self.redis = redis
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.floors = {**DEFAULT_FLOORS, **(floors or {})}
        self.dependencies = dependencies or (Dependencies(nginx, redis=redis) if redis is not None else None)
        self.connection_thresholds = dict(connection_thresholds or {})

    def sample(self, requests: int) -> LeakSample:
        self.nginx.settle()
        workers = self.nginx.workers().workers
        values: dict[str, float] = {
            "worker_fds": float(sum(w.fds for w in workers)),
            "worker_rss_kb": float(sum(w.rss_pages * 4 for w in workers)),
        }
        if self.redis is not None:
            values["redis_clients"] = float(self.redis.observe.clients_by_address().get(self.nginx.ip, 0))
        return LeakSample(requests, values)

    def run(self, send: Callable[[int], None], requests_per_round: int = 200, rounds: int = 5,
            warmup: int = 1, progress: Optional[Callable[[LeakSample], None]] = None) -> LeakReport:
        """Call ``send(n)`` (which must send n requests) ``warmup + rounds`` times, sampling after each.

        The warm-up rounds are sampled but left out of the fit (first-use allocations, pools filling).
        """
        if rounds < 2:
            raise ValueError("a leak verdict needs at least 2 measured rounds")
        samples = []
        sent = 0
        counters = None
        for i in range(warmup + rounds):
            if i == warmup and self.dependencies is not None:
                counters = self.dependencies.snapshot()
            send(requests_per_round)
            sent += requests_per_round
            samples.append(self.sample(sent))
            if progress:
                progress(samples[-1])
        report = LeakReport(samples, self.thresholds, warmup, self.floors)
        if counters is not None and self.dependencies is not None:
            report.connections = self.dependencies.delta(counters)
            report.usage = report.connections.usage(rounds * requests_per_round, self.connection_thresholds)
        return report
