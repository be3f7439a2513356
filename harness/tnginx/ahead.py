"""Running `.t` blocks ahead of pytest: while pytest reports block k, blocks k+1.. already run on
containers of their own, up to ``lanes`` at once, in the files' order. Test::Nginx gives every
block a nginx of its own, so blocks do not see each other, with one exception this module keeps:
a block that talks to the session's Redis (state shared by every block) runs alone, and no block
after it starts before it ends. The next blocks' containers are asked for ahead (``prepare``).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Hashable, Optional, Protocol, Sequence, TypeVar

from harness.tnginx.lanes import LaneGovernor, Lanes

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
AHEAD_PER_LANE = 32  # blocks a lane may run past the one pytest reports: enough that the other lanes
# keep busy while one runs a block that sleeps for seconds (short blocks take ~10 ms each)


class Job(Protocol[R_co]):
    """One block to run: ``alone`` (nothing else runs with it, nothing passes it), ``quiet`` (alone,
    and no container is prepared for the next ones while it runs: its timing windows want the machine
    to itself, as under prove), ``prepare()`` asks for its container ahead (in pytest's thread; False:
    not now, ask again later), ``run()`` runs it (in a lane)."""

    @property
    def key(self) -> Hashable: ...

    @property
    def alone(self) -> bool: ...

    @property
    def quiet(self) -> bool: ...

    def prepare(self) -> bool: ...

    def run(self) -> R_co: ...


class RunAhead(Generic[R]):
    """``result(job, following)``: ``job``'s outcome, ``following`` (the jobs pytest runs next, in
    order) started while it runs as far as ``lanes`` allow (a number, or a :class:`LaneGovernor`
    that decides as blocks run), the next ``depth`` after those prepared."""

    def __init__(self, lanes: Lanes = 1, depth: int = 5) -> None:
        self.governor = lanes if isinstance(lanes, LaneGovernor) else None
        self.lanes = lanes.ceiling if isinstance(lanes, LaneGovernor) else max(1, lanes)  # at most
        self.depth = depth
        self.lock = threading.RLock()  # a lane's job ending refills the lanes under it too
        self._running: dict[Hashable, Future[R]] = {}
        self._quiet: dict[Hashable, Future[R]] = {}  # the running quiet jobs
        self._prepared: set[Hashable] = set()
        self._following: Sequence[Job[R]] = ()  # what pytest runs next, as the last result() call said
        self._start = False  # whether the job pytest waits for lets others start
        self._executor: Optional[ThreadPoolExecutor] = None
        self.started_ahead = 0  # jobs started before pytest asked for them (for the tests and the docs)
        self.closed = False  # close() began: nothing more starts

    @property
    def lookahead(self) -> int:
        """How many of the jobs that follow :meth:`result` wants to see."""
        return AHEAD_PER_LANE * self.lanes + self.depth

    def result(self, job: Job[R], following: Sequence[Job[R]] = ()) -> R:
        with self.lock:
            future = self._running.get(job.key)
            if future is None:  # everything before it was reported: a lone job runs alone
                future = self._submit(job)
            self._following, self._start = following, not job.alone
            self._fill()
        try:
            return future.result()
        finally:
            with self.lock:
                self._running.pop(job.key, None)
                self._quiet.pop(job.key, None)

    def _unquiet(self, key: Hashable) -> None:
        with self.lock:
            self._quiet.pop(key, None)

    def _fill(self, _: object = None) -> None:
        """Start the next jobs while lanes are free (never a lone one, nor any after it); prepare
        the ``depth`` after those. Called by result() and whenever a job ends."""
        with self.lock:
            if self._executor is None:
                return  # closed
            self._fill_now()

    def describe(self) -> str:
        """The lanes as the run summary says them: ``2``, or ``auto (2-8, up to 5 used)``."""
        return self.governor.describe() if self.governor is not None else str(self.lanes)

    def _fill_now(self) -> None:
        if any(not f.done() for f in self._quiet.values()):
            return  # a quiet job runs: nothing starts or is prepared until it ends
        busy = sum(not f.done() for f in self._running.values())
        limit = self.governor.lanes(busy) if self.governor is not None else self.lanes
        prepared = 0
        start = self._start
        for nxt in self._following:
            if nxt.key in self._running:
                continue
            start = start and not nxt.alone
            if start and busy < limit:
                self._submit(nxt)
                self.started_ahead += 1
                busy += 1
                continue
            if prepared >= self.depth:
                break
            prepared += 1
            self._prepare(nxt)

    def _prepare(self, job: Job[R]) -> None:
        if job.key not in self._prepared and job.prepare():
            self._prepared.add(job.key)

    def _submit(self, job: Job[R]) -> Future[R]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.lanes, thread_name_prefix="harness-t-lane")
        self._prepare(job)
        future = self._executor.submit(job.run)
        self._running[job.key] = future
        if job.quiet:
            self._quiet[job.key] = future
            future.add_done_callback(lambda _: self._unquiet(job.key))
        future.add_done_callback(self._fill)
        return future

    def close(self) -> None:
        """Drop what has not started; wait for the blocks that run (each bounded by its timeouts)."""
        with self.lock:
            executor, self._executor = self._executor, None
            self._running.clear()
            self.closed = True
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
