"""``FailoverVerdict``: the questions a team asks before a Redis maintenance window, answered from
what a :class:`~harness.topologies.probe.WriteReadProbe` saw through a master failover:

- requests fail for at most ``max_outage_s`` (from the first failed step to the first good one
  after the last failure; a run that never recovers has no bound),
- none gets a wrong answer (an acknowledged write read back as something else; a write whose loss
  replication allows, below, may read back as missing),
- no acknowledged write is lost, except those acknowledged within ``replication_window_s`` before
  the fault struck (Redis replicates asynchronously: the master may die before sending them);
  a write acknowledged after the fault struck and lost (an isolated master that still took writes)
  counts as lost,
- the pool keeps no dead connection: from ``recovery_grace_s`` after the first good answer that
  followed the promotion, no step fails (the grace covers the new configuration still spreading:
  the other Sentinels, the other cluster nodes, slots of the failed master whose keys come later).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from harness.errors import HarnessError
from harness.topologies.events import Switch
from harness.topologies.group import NodeState
from harness.topologies.probe import Sample

ReadBack = Callable[[Sequence[str]], Sequence[Optional[str]]]


def failover_timeline(struck_at: float, first_failure_at: Optional[float], switch: Optional[Switch],
                      first_good_after: Optional[float], what: str = "request") -> str:
    """One line: fault -> first failure -> promotion -> first good answer, in seconds after the fault
    (times are ``time.monotonic()``; None: never)."""
    def rel(t: Optional[float]) -> str:
        return "never" if t is None else f"+{t - struck_at:.2f}s"
    promoted = f"{rel(switch.at)} {switch.new} promoted (was {switch.old})" if switch else "no promotion seen"
    return (f"fault at +0.00s; first failed {what} {rel(first_failure_at)}; {promoted}; "
            f"first good answer after it {rel(first_good_after)}")


@dataclass
class FailoverReport:
    """What happened, and which of the verdict's promises broke (``problems``; empty: all kept)."""

    struck_at: float
    switch: Optional[Switch]
    first_failure_at: Optional[float]
    first_good_after_switch: Optional[float]
    outage_s: Optional[float]             # None: never recovered
    failures: int
    wrong: list[Sample]
    lost: list[str]                       # keys acknowledged and missing or changed after the failover
    lost_allowed: list[str]               # the same, acknowledged within the replication window before the fault
    failures_after_recovery: list[Sample]
    problems: list[str] = field(default_factory=list)
    before: list[NodeState] = field(default_factory=list)
    after: list[NodeState] = field(default_factory=list)
    events: str = ""
    app_connections: dict[str, int] = field(default_factory=dict)  # node -> the app's connections, after

    @property
    def ok(self) -> bool:
        return not self.problems

    def timeline(self) -> str:
        """fault -> promotion -> first good answer, in seconds after the fault."""
        return failover_timeline(self.struck_at, self.first_failure_at, self.switch, self.first_good_after_switch)

    def text(self) -> str:
        lines = [self.timeline(),
                 f"outage {'unbounded (never recovered)' if self.outage_s is None else f'{self.outage_s:.2f}s'}, "
                 f"{self.failures} failed steps, {len(self.wrong)} wrong answers, {len(self.lost)} lost writes "
                 f"(+{len(self.lost_allowed)} within the replication window), "
                 f"{len(self.failures_after_recovery)} failures after recovery"]
        lines += [f"  broken: {p}" for p in self.problems]
        if self.lost_allowed:
            lines.append(f"lost within the replication window: {self.lost_allowed[:10]}")
        if self.before:
            lines += ["nodes before:"] + [f"  {s.line()}" for s in self.before]
        if self.after:
            lines += ["nodes after:"] + [f"  {s.line()}" for s in self.after]
        if self.app_connections:
            lines.append("the app's connections after: " + ", ".join(f"{a} {n}" for a, n in self.app_connections.items()))
        if self.events:
            lines += ["Sentinel events:"] + [f"  {e}" for e in self.events.splitlines()]
        return "\n".join(lines)

    def assert_ok(self) -> None:
        if self.problems:
            raise AssertionError("the failover broke promises:\n" + self.text())


@dataclass(frozen=True)
class FailoverVerdict:
    max_outage_s: float = 5.0
    replication_window_s: float = 1.0
    recovery_grace_s: float = 1.0

    def judge(self, samples: Sequence[Sample], acked: dict[str, tuple[float, str]], struck_at: float,
              switch: Optional[Switch], read_back: ReadBack) -> FailoverReport:
        """Judge a probe's run (``probe.snapshot()``); ``read_back(keys)`` reads keys from the master now."""
        if not samples:
            raise HarnessError("the probe made no step: start it before the fault and let it run past the failover")
        failed = [s for s in samples if not s.ok]
        first_failure = failed[0].at if failed else None
        last_failure = failed[-1].at if failed else None
        recovered_at = (next((s.at for s in samples if s.ok and s.at > last_failure), None)
                        if last_failure is not None else None)
        outage = (0.0 if first_failure is None else
                  None if recovered_at is None else recovered_at - first_failure)
        good_after = (next((s.at for s in samples if s.ok and s.at > switch.at), None) if switch else None)
        after_recovery = [s for s in samples
                          if not s.ok and good_after is not None and s.at > good_after + self.recovery_grace_s]
        keys = sorted(acked)
        values = list(read_back(keys)) if keys else []
        missing = [k for k, v in zip(keys, values) if v != acked[k][1]]
        allowed = [k for k in missing if struck_at - self.replication_window_s <= acked[k][0] <= struck_at]
        lost = [k for k in missing if k not in allowed]
        report = FailoverReport(struck_at, switch, first_failure, good_after, outage, len(failed),
                                [s for s in samples if s.wrong and s.key not in allowed], lost, allowed,
                                after_recovery)
        if outage is None:
            report.problems.append(f"requests still failed when the probe stopped ({failed[-1].detail})")
        elif outage > self.max_outage_s:
            report.problems.append(f"requests failed for {outage:.2f}s (at most {self.max_outage_s}s allowed)")
        if report.wrong:
            report.problems.append(f"{len(report.wrong)} wrong answers, e.g. {report.wrong[0].detail}")
        if lost:
            report.problems.append(f"{len(lost)} acknowledged writes lost, e.g. {lost[:3]}")
        if after_recovery:
            report.problems.append(f"{len(after_recovery)} failures more than {self.recovery_grace_s}s after the first "
                                   f"good answer following the promotion (dead pooled connections?), "
                                   f"e.g. {after_recovery[0].detail}")
        if switch is not None and good_after is None and outage is not None:
            report.problems.append("no good answer after the promotion")
        return report
