"""Observation before judgement: everything a step's (or a scenario's) expectations need from the
containers, read once into a :class:`Snapshot`; :mod:`harness.scenarios.checks` then judges that
snapshot without any I/O, so the actual value a check reports is the one it judged."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from harness.errorlog import ErrorLog, LogEntry, enough, select, unsettled_message
from harness.metrics import Metrics
from harness.scenarios.spec import Expect
from harness.scenarios.traffic import Outcome
from harness.workers import WorkerTable

if TYPE_CHECKING:
    from harness.containers import OpenRestyContainer, RedisContainer
    from harness.dependencies import Delta
    from harness.leaks import LeakReport
    from harness.load import LoadResult

LOG_WAIT_S = 5.0  # how long expected error.log lines may take to appear


@dataclass(frozen=True)
class Snapshot:
    """What the containers showed once the traffic was over."""

    log: list[LogEntry] = field(default_factory=list)  # since the cursor, the workers settled first
    log_settled: str = ""  # that read's settle status (see harness.errorlog.LogRead)
    log_source: str = ""  # the container's name, for messages
    workers: Optional[WorkerTable] = None  # taken when workers are expected
    cpu_quota: Optional[float] = None
    redis_keys: dict[str, Optional[str]] = field(default_factory=dict)  # each expected key, read once
    redis_clients_from_nginx: Optional[int] = None
    unsettled: str = ""  # why the error.log read cannot back a negative check ("": it can)
    unsettled_detail: str = ""  # the worker table then


@dataclass
class Observed:
    """What a step (or the whole scenario) saw: the containers and the step's own results; the
    snapshot is taken by :func:`observe` once the traffic is over."""

    nginx: "OpenRestyContainer"
    log: ErrorLog
    workers_before: Optional[WorkerTable]  # taken only when workers are expected
    outcomes: list[Outcome] = field(default_factory=list)
    redis: Optional["RedisContainer"] = None
    metrics_before: Optional[Metrics] = None
    metrics_after: Optional[Metrics] = None
    load: Optional["LoadResult"] = None
    leak: Optional["LeakReport"] = None
    snapshot: Optional[Snapshot] = None
    dependencies: Optional["Delta"] = None  # counters of Redis, proxy routes and DNS over the step

    @property
    def requests(self) -> int:
        """Requests the step sent to OpenResty (the denominator of connections per request)."""
        if self.load is not None:
            return self.load.requests
        if self.leak is not None:
            return self.leak.samples[-1].requests
        return len(self.outcomes)


def needs_snapshot(expect: Expect) -> bool:
    """Whether judging ``expect`` needs what :func:`observe` reads (error.log, workers, Redis)."""
    redis = expect.redis
    return bool(expect.error_log or expect.no_error_log or expect.grep_error_log or expect.workers is not None
                or (redis is not None and (redis.keys or redis.max_clients_from_nginx is not None
                                           or redis.min_clients_from_nginx is not None)))


def needs_dependencies(expect: Expect) -> bool:
    """Whether judging ``expect`` needs dependency counters read before and after the traffic
    (:class:`harness.dependencies.Dependencies`, into ``Observed.dependencies``)."""
    return bool(expect.proxy or expect.dns) or (expect.redis is not None and expect.redis.wanted)


def observe(expect: Expect, seen: "Observed") -> Snapshot:
    """Read what ``expect`` needs, waiting (up to :data:`LOG_WAIT_S`) for its expected error.log
    lines; also stored as ``seen.snapshot``."""
    log, settled = _log(expect, seen)
    workers = quota = None
    if expect.workers is not None:
        want = expect.workers
        needs_cpu = want.stuck is not None or want.healthy is not None
        workers = seen.nginx.workers(want.sample_s if needs_cpu else None)
        quota = seen.nginx.cpu_quota
    keys: dict[str, Optional[str]] = {}
    clients = None
    if expect.redis is not None and seen.redis is not None:
        client = seen.redis.client()
        keys = {key: _text(client.get(key)) for key in expect.redis.keys}
        if expect.redis.max_clients_from_nginx is not None or expect.redis.min_clients_from_nginx is not None:
            clients = seen.redis.observe.clients_by_address().get(seen.nginx.ip, 0)
    unsettled = unsettled_message(seen.nginx.name, settled, seen.log.settle_timeout) if expect.no_error_log else None
    seen.snapshot = Snapshot(log, settled, seen.nginx.name, workers, quota, keys, clients, unsettled or "",
                             seen.nginx.workers().format() if unsettled else "")
    return seen.snapshot


def _text(value: object) -> Optional[str]:
    """A value as the client gave it (decoded strings), None for a missing key."""
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


def _log(expect: Expect, seen: "Observed") -> tuple[list[LogEntry], str]:
    if not (expect.error_log or expect.no_error_log or expect.grep_error_log):
        return [], ""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        entries = seen.log.entries(settle=True)
        waited_for = all(enough(select(entries, item.matcher(), item.level), item.count) for item in expect.error_log)
        if waited_for or time.monotonic() >= deadline:
            return entries, seen.log.last_settle
        time.sleep(0.02)
