"""A scenario step's failover timeline: while a step holds a ``sentinel.*`` fault on the declared
Sentinel topology, one Sentinel's events are recorded, and the step's attempts (a step with ``within``
repeats its requests until they pass) give the first failure and the first good answer. The line
(fault -> first failure -> promotion -> first good answer) goes into the step's result: the text
report and the HTML report show it."""
from __future__ import annotations

import time
from typing import Optional

from harness.scenarios.spec import Step
from harness.topologies.events import SentinelEvents
from harness.topologies.sentinel import SentinelRedis
from harness.topologies.verdict import failover_timeline


class FailoverWatch:
    """``with FailoverWatch(topology) as watch:`` around a step; ``watch.attempt(passed)`` after each
    of its attempts; then :meth:`line`. Times count from the step's start, when its fault is applied."""

    def __init__(self, topology: SentinelRedis) -> None:
        self.events = SentinelEvents(topology.sentinels[0])
        self.began = 0.0
        self.attempts: list[tuple[float, bool]] = []

    @staticmethod
    def wanted(step: Step, topology: object) -> Optional["FailoverWatch"]:
        """A watch for ``step`` when it holds a fault on the Sentinel topology (else None)."""
        if isinstance(topology, SentinelRedis) and any(f.fault.needs == "redis_sentinel" for f in step.fault):
            return FailoverWatch(topology)
        return None

    def __enter__(self) -> "FailoverWatch":
        self.events.__enter__()
        self.began = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.__exit__(*exc)

    def attempt(self, passed: bool) -> None:
        self.attempts.append((time.monotonic(), passed))

    def line(self) -> str:
        switch = next((s for s in self.events.promotions() if s.at >= self.began), None)
        first_failure = next((t for t, ok in self.attempts if not ok), None)
        good = next((t for t, ok in self.attempts if ok and (switch is None or t >= switch.at)), None)
        return "failover: " + failover_timeline(self.began, first_failure, switch, good, what="attempt")
