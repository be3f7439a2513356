"""Faults of nginx processes: kill or stop a worker, make a real zombie, signal the master."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator, Optional

from harness.errors import HarnessError
from harness.waiting import wait_for
from harness.workers import Process, WorkerTable

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import OpenRestyContainer


class WorkerFault:
    """Signals to the processes of one :class:`~harness.containers.OpenRestyContainer`."""

    def __init__(self, nginx: "OpenRestyContainer", timeout: float = 15.0) -> None:
        self.nginx = nginx
        self.timeout = timeout

    def _signal(self, pid: int, signal: str) -> None:
        if pid == 1:
            # PID 1 of a namespace ignores signals it has no handler for (STOP, KILL...) when they
            # come from inside; the engine sends them from outside.
            self.nginx.get_wrapped_container().kill(signal=f"SIG{signal}")
            return
        code, out = self.nginx.sh(f"kill -{signal} {pid}")
        if code != 0:
            raise HarnessError(f"kill -{signal} {pid} failed in {self.nginx.name}: {out.strip()}")

    def _worker(self, pid: Optional[int]) -> Process:
        workers = self.nginx.workers().workers
        if not workers:
            raise HarnessError(f"{self.nginx.name} has no worker to fault")
        if pid is None:
            return workers[0]
        match = next((w for w in workers if w.pid == pid), None)
        if match is None:
            raise HarnessError(f"{self.nginx.name} has no worker {pid}: {[w.pid for w in workers]}")
        return match

    def kill_worker(self, pid: Optional[int] = None, signal: str = "KILL") -> tuple[Process, WorkerTable]:
        """Kill a worker; return it and the table once the master has started its replacement."""
        victim = self._worker(pid)
        count = len(self.nginx.workers().workers)
        self._signal(victim.pid, signal)
        after = wait_for(lambda: _replaced(self.nginx.workers(), victim, count), timeout=self.timeout,
                         what=f"the master of {self.nginx.name} to replace worker {victim.pid}")
        return victim, after

    @contextlib.contextmanager
    def stopped_worker(self, pid: Optional[int] = None) -> Iterator[Process]:
        """SIGSTOP a worker (state T): requests it accepted hang; SIGCONT on exit."""
        victim = self._worker(pid)
        self._signal(victim.pid, "STOP")
        try:
            wait_for(lambda: (p := self.nginx.workers().by_pid(victim.pid)) is not None and p.state == "T",
                     timeout=self.timeout, what=f"worker {victim.pid} to stop")
            yield victim
        finally:
            self._signal(victim.pid, "CONT")

    @contextlib.contextmanager
    def zombie(self, pid: Optional[int] = None) -> Iterator[Process]:
        """A real zombie: stop the master, kill a worker; it stays <defunct> (state Z) until the
        master runs again (on exit), reaps it and starts its replacement."""
        master = self.nginx.workers().master
        if master is None:
            raise HarnessError(f"{self.nginx.name} has no master process")
        victim = self._worker(pid)
        count = len(self.nginx.workers().workers)
        self._signal(master.pid, "STOP")
        try:
            self._signal(victim.pid, "KILL")
            wait_for(lambda: (p := self.nginx.workers().by_pid(victim.pid)) is not None and p.state == "Z",
                     timeout=self.timeout, what=f"worker {victim.pid} to become a zombie")
            yield victim
        finally:
            self._signal(master.pid, "CONT")
        # the master reaps in its SIGCHLD handler and forks the replacement later in its loop: a
        # table read in between shows one worker fewer
        wait_for(lambda: _replaced(self.nginx.workers(), victim, count), timeout=self.timeout,
                 what=f"the master to reap {victim.pid} and replace it")

    def signal_master(self, signal: str, pid: Optional[int] = None) -> None:
        """Send HUP, QUIT, TERM, USR1, USR2, WINCH... to the master (or to master ``pid`` when a
        binary upgrade left two)."""
        master = self.nginx.workers().master if pid is None else self.nginx.workers().by_pid(pid)
        if master is None:
            raise HarnessError(f"{self.nginx.name} has no master process {pid or ''}".rstrip())
        self._signal(master.pid, signal)


def _replaced(table: WorkerTable, victim: Process, count: int) -> Optional[WorkerTable]:
    alive = [w for w in table.workers if (w.pid, w.start_ticks) != (victim.pid, victim.start_ticks)]
    return table if len(alive) >= count and table.by_pid(victim.pid) is None else None
