"""A scenario's faults as context managers over the harness's fault API (``harness.faults``, the
fault proxy's toxics, the DNS server's answers), and the timeline that applies them during traffic."""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Optional

from harness.errors import HarnessError
from harness.faults import RedisFault, WorkerFault
from harness.scenarios.spec import Fault

if TYPE_CHECKING:
    from harness.containers import DnsContainer, FaultProxyContainer, OpenRestyContainer, RedisContainer


@dataclass
class Targets:
    """What faults act on in one scenario run."""

    nginx: "OpenRestyContainer"
    redis: Optional["RedisContainer"] = None
    proxy: Optional["FaultProxyContainer"] = None
    dns: Optional["DnsContainer"] = None


@contextlib.contextmanager
def _instant(action: Callable[[], object]) -> Iterator[None]:
    """A fault that happens once (a kill, a signal): nothing to undo."""
    action()
    yield


def fault_context(fault: Fault, targets: Targets) -> ContextManager[object]:
    """The context manager that holds ``fault`` (entered: applied; exited: undone)."""
    family, what = fault.kind.split(".", 1)
    if family == "redis":
        if targets.redis is None:
            raise HarnessError(f"fault {fault.kind} needs Redis: add 'redis' to the scenario's services")
        redis = RedisFault(targets.redis)
        contexts: dict[str, Callable[[], ContextManager[object]]] = {
            "stopped": redis.stopped, "killed": redis.killed, "paused": redis.paused,
            "refusing": redis.refusing, "slow": lambda: redis.slow(int(fault.ms or 0)),
            "drop_connections": lambda: _instant(redis.drop_connections),
            "restart": lambda: _instant(redis.restart),
        }
        return contexts[what]()
    if family == "proxy":
        if targets.proxy is None:
            raise HarnessError(f"fault {fault.kind} needs the fault proxy: add 'redis_proxy' to the services "
                               "or an 'upstream'")
        route = targets.proxy.route(fault.route)
        contexts = {
            "down": route.down,
            "latency": lambda: route.latency(fault.ms or 0, fault.jitter, fault.stream),
            "bandwidth": lambda: route.bandwidth(fault.rate or 0, fault.stream),
            "blackhole": lambda: route.blackhole(stream=fault.stream),
            "reset_peer": lambda: route.reset_peer(stream=fault.stream),
            "limit_data": lambda: route.limit_data(fault.bytes or 0, fault.stream),
            "slicer": lambda: route.slicer(64, 16, 1000, fault.stream),
            "drop_connections": lambda: _instant(route.drop_connections),
        }
        return contexts[what]()
    if family == "dns":
        if targets.dns is None:
            raise HarnessError(f"fault {fault.kind} needs the DNS server: add 'dns' to the services")
        answers: dict[str, dict[str, Any]] = {"nxdomain": {"rcode": "NXDOMAIN"}, "servfail": {"rcode": "SERVFAIL"},
                   "timeout": {"timeout": True}, "address": {"a": fault.address}}
        return targets.dns.answering(fault.host or "", **answers[what])
    workers = WorkerFault(targets.nginx)
    if fault.kind == "worker.kill":
        return _instant(lambda: workers.kill_worker(signal=fault.signal or "KILL"))
    if fault.kind == "worker.stop":
        return workers.stopped_worker()
    if fault.kind == "worker.zombie":
        return workers.zombie()
    return _instant(lambda: workers.signal_master(fault.signal or "HUP"))


class Timeline:
    """Applies timed faults (``at``/``clear`` seconds from the start) in a thread while traffic runs.
    Whatever happens, every applied fault is undone by :meth:`stop`."""

    def __init__(self, faults: list[Fault], targets: Targets) -> None:
        self.faults = sorted(faults, key=lambda f: f.at or 0)
        self.targets = targets
        self.log: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Timeline":
        started = time.monotonic()
        for fault in self.faults:
            thread = threading.Thread(target=self._hold, args=(fault, started), daemon=True,
                                      name=f"fault-{fault.kind}")
            thread.start()
            self._threads.append(thread)
        return self

    def _hold(self, fault: Fault, started: float) -> None:
        if self._stop.wait(max(0.0, (fault.at or 0) - (time.monotonic() - started))):
            return  # the traffic ended before the fault was due
        try:
            with fault_context(fault, self.targets):
                self.log.append(f"{time.monotonic() - started:6.2f}s applied {fault.kind}")
                # held until its clear time, or until the traffic ends
                self._stop.wait(None if fault.clear is None else max(0.0, fault.clear - (time.monotonic() - started)))
            self.log.append(f"{time.monotonic() - started:6.2f}s cleared {fault.kind}")
        except Exception as exc:  # noqa: BLE001 - reported as a scenario error by stop()
            self.errors.append(f"{fault.kind}: {exc}")

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        if any(t.is_alive() for t in self._threads):
            raise HarnessError(f"a timed fault did not undo itself within {timeout:.0f}s")
        if self.errors:
            raise HarnessError("timed fault failed: " + "; ".join(self.errors))
