"""Checks on the app running under its limits: workers vs the CPU quota, their memory vs the
limit, worker_connections vs the open files limit. Read after a short warm-up."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import httpx

from harness.preflight.options import PreflightOptions
from harness.preflight.report import CheckResult, Finding, Verdict
from harness.workers import CPU_STUCK_PERCENT, WorkerTable

if TYPE_CHECKING:
    from harness.containers import OpenRestyContainer

WARN_RATIO = 0.8  # the article's early-warning line, for memory and for open files
WARMUP_REQUESTS = 20  # per path
KILLED = re.compile(r"worker process (\d+) exited on signal (\d+)")


@dataclass
class RuntimeSample:
    """What the running app showed: worker tables at start and after the warm-up, the warm-up's
    answers, error.log, and the limits it ran under."""

    before: WorkerTable
    after: WorkerTable
    statuses: dict[str, int] = field(default_factory=dict)  # "200" / "timeout" / "error" -> count
    error_log: str = ""
    worker_connections: int = 1024
    cpu_quota: Optional[float] = None
    configured: int = 1  # workers nginx starts: worker_processes, or for auto the CPUs it sees

    @property
    def killed(self) -> list[tuple[int, int]]:
        return [(int(pid), int(sig)) for pid, sig in KILLED.findall(self.error_log)]


def warm_up(nginx: "OpenRestyContainer", paths: tuple[str, ...], requests: int = WARMUP_REQUESTS) -> dict[str, int]:
    """``requests`` GETs of each path (answers of any status count; timeouts too)."""
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=nginx.base_url, timeout=2.0) as client:
        for path in paths:
            for _ in range(requests):
                try:
                    key = str(client.get(path).status_code)
                except httpx.TimeoutException:
                    key = "timeout"
                except httpx.HTTPError:
                    key = "error"
                statuses[key] = statuses.get(key, 0) + 1
    return statuses


def sample(nginx: "OpenRestyContainer", options: PreflightOptions, worker_connections: int, ncpu: int) -> RuntimeSample:
    """Worker tables before and after the warm-up; ``ncpu``: the CPUs nginx sees (for ``auto``)."""
    before = nginx.workers()
    statuses = warm_up(nginx, options.paths)
    after = nginx.workers(interval=0.3)
    configured = ncpu if options.workers == "auto" else int(options.workers)
    return RuntimeSample(before, after, statuses, nginx.read_error_log(0).text, worker_connections, nginx.cpu_quota,
                         configured)


def _mb(value: float) -> str:
    return f"{value:.0f} MB"


def check_workers(s: RuntimeSample, options: PreflightOptions) -> CheckResult:
    live = [p for p in s.after.workers if p.state != "Z"]
    quota = s.cpu_quota or options.cpus
    allowed = max(1, math.ceil(quota - 1e-9))
    count = max(s.configured, len(live))
    findings: list[Finding] = []
    if count > allowed:
        if options.workers == "auto":
            findings.append(Finding(
                f"worker_processes auto starts {count} workers under a CPU quota of {quota:g}: nginx counts the "
                f"CPUs it sees, not the container's quota (on a 64-core node: 64 workers); set worker_processes "
                f"{allowed}", verdict=Verdict.FAIL))
        else:
            findings.append(Finding(f"worker_processes {options.workers} is more than the CPU quota of {quota:g}: "
                                    f"the workers share {quota:g} CPU(s); set worker_processes {allowed}"))
    started_before = {p.pid for p in s.before.workers}  # a worker respawned meanwhile is busy starting up
    for p in (p for p in s.after.stuck(CPU_STUCK_PERCENT) if p.pid in started_before):
        findings.append(Finding(f"worker {p.pid} at {s.after.busy(p.pid):.0f} % CPU after the warm-up of "
                                f"{', '.join(options.paths)}: it never gets back to its event loop (a loop or a "
                                f"blocking call?)", verdict=Verdict.FAIL))
    return CheckResult.from_findings("workers", findings, f"{count} worker(s) (worker_processes {options.workers}) "
                                                          f"within a CPU quota of {quota:g}")


def check_memory(s: RuntimeSample, options: PreflightOptions) -> CheckResult:
    limit_mb = options.memory_bytes / 1024 ** 2
    workers = [p for p in s.after.workers + s.before.workers if p.state != "Z"]
    per_worker = max((p.rss_mb for p in workers), default=0.0)
    count = max(s.configured, len([p for p in s.after.workers if p.state != "Z"]))
    master = s.after.master.rss_mb if s.after.master is not None else 0.0
    projected = master + count * per_worker
    ratio = projected / limit_mb
    sums = (f"{count} worker(s) x {_mb(per_worker)} + master {_mb(master)} = {_mb(projected)} of the "
            f"{options.memory} limit ({ratio:.0%})")
    killed = [(pid, sig) for pid, sig in s.killed if sig == 9]
    findings: list[Finding] = []
    if killed:
        findings.append(Finding(
            f"worker process {killed[0][0]} exited on signal 9 ({len(killed)} kill(s) during the preflight): the "
            f"kernel's OOM killer under the {options.memory} memory limit; {sums}; set fewer workers "
            f"(worker_processes) or raise the limit", verdict=Verdict.FAIL))
    elif ratio > 1:
        findings.append(Finding(f"projected {sums}: more than the limit; set fewer workers or raise it",
                                verdict=Verdict.FAIL))
    elif ratio > WARN_RATIO:
        findings.append(Finding(f"projected {sums}: above {WARN_RATIO:.0%} of the limit, little room for growth "
                                f"under load", verdict=Verdict.WARN))
    return CheckResult.from_findings("memory", findings, sums)


def check_connections(s: RuntimeSample) -> CheckResult:
    limits = [p.nofile for p in s.after.workers if p.nofile]
    if not limits:
        return CheckResult("connections", Verdict.SKIP, "the workers' open files limit could not be read")
    nofile = min(limits)
    ratio = s.worker_connections / nofile
    text = f"worker_connections {s.worker_connections} is {ratio:.0%} of the workers' open files limit {nofile}"
    if ratio > WARN_RATIO:
        need = math.ceil(s.worker_connections / WARN_RATIO)
        return CheckResult("connections", Verdict.WARN, text, (Finding(
            f"{text}: every connection is a file (a proxied one two), so accept4() fails with \"Too many open "
            f"files\" before worker_connections is reached; raise nofile to {need} or more (--ulimit nofile, "
            f"worker_rlimit_nofile) or lower worker_connections"),))
    return CheckResult("connections", Verdict.OK, text)


def check_start(s: RuntimeSample, ready_s: float, options: PreflightOptions) -> CheckResult:
    """The app started; its warm-up answered (timeouts or broken connections: a warning)."""
    answers = ", ".join(f"{key} x{n}" for key, n in sorted(s.statuses.items()))
    text = f"ready in {ready_s:.1f} s; warm-up GET {' '.join(options.paths)} x{WARMUP_REQUESTS}: {answers}"
    stalled = s.statuses.get("timeout", 0) + s.statuses.get("error", 0)
    # The warm-up is sequential: a worker killed by a signal takes at most one request with it.
    # Those are the memory check's finding, not a stuck worker.
    lost = min(stalled, len(s.killed))
    stalled -= lost
    if lost:
        text += f" ({lost} lost with a worker killed by a signal: see the memory check)"
    if stalled:
        return CheckResult("start", Verdict.WARN, text, (Finding(f"{text}: {stalled} warm-up request(s) got no "
                                                                 f"answer (a stuck worker?)"),))
    return CheckResult("start", Verdict.OK, text)


RUNTIME_CHECKS = ("start", "workers", "memory", "connections")


def not_run(reason: str, start: Optional[CheckResult] = None) -> list[CheckResult]:
    """The runtime checks as skips (``start``: the start check's own verdict, when it has one)."""
    skipped = [CheckResult(name, Verdict.SKIP, f"not run: {reason}") for name in RUNTIME_CHECKS]
    return [start, *skipped[1:]] if start is not None else skipped
