"""A scenario's faults in time: each held through :mod:`harness.faults.registry` (looked up by its
kind), and the timeline that applies timed ones while the step's traffic runs."""
from __future__ import annotations

import threading
import time
from typing import ContextManager

from harness.errors import HarnessError
from harness.faults.registry import Targets
from harness.scenarios.spec import Fault


def fault_context(fault: Fault, targets: Targets) -> ContextManager[object]:
    """The context manager that holds ``fault`` (entered: applied; exited: undone)."""
    return fault.hold(targets)


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
