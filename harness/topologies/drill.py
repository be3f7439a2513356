"""``FailoverDrill``: one master failover rehearsed against an app, judged by a
:class:`~harness.topologies.verdict.FailoverVerdict`::

    drill = FailoverDrill(redis_sentinel, nginx.base_url, FailoverVerdict(max_outage_s=5))
    report = drill.run(lambda fault: fault.paused_master())
    report.assert_ok()

The probe writes and reads through the app before, during and after the fault; the fault holds
until Sentinel promoted a replica and the app answered well ``settle_good`` times after it (or
``max_outage_s`` plus ``grace_s`` passed: a broken app is judged, not waited for).
"""
from __future__ import annotations

from typing import Callable, ContextManager

from harness.errors import HarnessError, ReadinessTimeout
from harness.faults.failover import SentinelFault
from harness.topologies.events import SentinelEvents
from harness.topologies.probe import WriteReadProbe
from harness.topologies.sentinel import SentinelRedis
from harness.topologies.verdict import FailoverReport, FailoverVerdict
from harness.waiting import wait_for

FaultOf = Callable[[SentinelFault], ContextManager[object]]


class FailoverDrill:
    def __init__(self, topology: SentinelRedis, base_url: str, verdict: FailoverVerdict = FailoverVerdict(),
                 settle_good: int = 10, grace_s: float = 2.0, interval: float = 0.05, app_ip: str = "") -> None:
        self.topology = topology
        self.base_url = base_url
        self.verdict = verdict
        self.settle_good = settle_good
        self.grace_s = grace_s
        self.interval = interval
        self.app_ip = app_ip  # the app container's address: its connections per node are reported

    def run(self, fault_of: FaultOf) -> FailoverReport:
        fault = SentinelFault(self.topology)
        before = self.topology.states()
        # odown, an election (and a second one after 2 x failover-timeout if the first fails), promotion
        promotion_timeout = (self.topology.down_after_ms + 3 * self.topology.failover_timeout_ms) / 1000 + 10
        with SentinelEvents(self.topology.sentinels[0]) as events, \
                WriteReadProbe(self.base_url, interval=self.interval) as probe:
            wait_for(lambda: probe.good_since(0) >= 3, timeout=10, what="the app to answer before the fault",
                     on_timeout=lambda: "\n".join(s.detail for s in probe.snapshot()[0][-5:]))
            with fault_of(fault):
                if fault.struck_at is None:
                    raise HarnessError("the drill's fault did not strike: pass a SentinelFault context, "
                                       "e.g. lambda fault: fault.paused_master()")
                switch = events.wait_switch(promotion_timeout, after=fault.struck_at)
                try:
                    wait_for(lambda: probe.good_since(switch.at) >= self.settle_good,
                             timeout=self.verdict.max_outage_s + self.grace_s,
                             what="good answers after the promotion")
                except ReadinessTimeout:
                    pass  # judged below: the app did not recover in time
                probe.stop()
            samples, acked = probe.snapshot()
            master = self.topology.master()
            report = self.verdict.judge(samples, acked, fault.struck_at, switch,
                                        lambda keys: [str(v) if v is not None else None
                                                      for v in master.client().mget(keys)])
            report.events = events.text()
        report.before, report.after = before, self.topology.states()
        if self.app_ip:
            report.app_connections = self.topology.connections_from(self.app_ip)
        return report
