"""Running `.t` blocks ahead of pytest: while pytest reports block k (in the files' order), the other
blocks already run on containers of their own, up to ``lanes`` at once, in the order
:mod:`harness.tnginx.schedule` gives (long blocks first). Test::Nginx gives every block a nginx of
its own, so blocks do not see each other, with one exception this module keeps: blocks that talk
to a session service keeping data (Redis: state shared by every block) form a chain and run one at a
time, in the files' order. The next blocks' containers are asked for ahead (``prepare``).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Callable, Generic, Hashable, Optional, Protocol, Sequence, TypeVar

from harness.tnginx.lanes import LaneGovernor, Lanes
from harness.tnginx.schedule import next_startable, start_order

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
TICK = 0.1  # seconds between two looks at the lanes while pytest waits (a block may start waiting)


class Job(Protocol[R_co]):
    """One block to run: ``chain`` (None, or the name of the blocks it runs one at a time with, in
    order), ``estimate`` (seconds it is expected to take), ``quiet`` (it runs alone, after the others
    started unless it is in a chain, and no container is prepared for the others while it runs: its
    timing windows want the machine to itself, as under prove), ``prepare()`` asks for its container ahead (False: not now, ask again later), ``run()`` runs
    it (in a lane)."""

    @property
    def key(self) -> Hashable: ...

    @property
    def chain(self) -> Optional[Hashable]: ...

    @property
    def estimate(self) -> float: ...

    @property
    def quiet(self) -> bool: ...

    def prepare(self) -> bool: ...

    def run(self) -> R_co: ...


class RunAhead(Generic[R]):
    """``result(job, following)``: ``job``'s outcome. Jobs become known through ``job`` and
    ``following`` (the jobs pytest runs next, in order: the whole run on the first call); they start
    in :func:`~harness.tnginx.schedule.start_order` as far as ``lanes`` allow (a number, or a
    :class:`LaneGovernor` that decides as blocks run), the next ``depth`` after those prepared."""

    def __init__(self, lanes: Lanes = 1, depth: int = 5, clock: Callable[[], float] = time.monotonic,
                 on_lanes: Optional[Callable[[int], None]] = None) -> None:
        self.governor = lanes if isinstance(lanes, LaneGovernor) else None
        self.lanes = lanes.ceiling if isinstance(lanes, LaneGovernor) else max(1, lanes)  # at most
        self.on_lanes = on_lanes  # told how many lanes may run whenever that changes (the pool sizes itself)
        self._told: Optional[int] = None
        self.depth = depth
        self.clock = clock
        self.lock = threading.RLock()  # a lane's job ending refills the lanes under it too
        self._futures: dict[Hashable, Future[R]] = {}  # every known job's, until pytest took its result
        self._pending: list[Job[R]] = []  # known, not started, in start order
        self._order: list[Job[R]] = []  # jobs not started when the last ones were learnt, in pytest's order
        self._running: dict[Hashable, tuple[Optional[Hashable], float]] = {}  # key -> (chain, started)
        self._quiet: set[Hashable] = set()  # the running quiet job (nothing else runs or is prepared)
        self._asked: set[Hashable] = set()  # jobs pytest asked for
        self._prepared: set[Hashable] = set()
        self._executor: Optional[ThreadPoolExecutor] = None
        self.started_ahead = 0  # jobs started before pytest asked for them (for the tests and the docs)
        self.started: list[Hashable] = []  # keys in the order they started
        self.closed = False  # close() began: nothing more starts

    def knows(self, key: Hashable) -> bool:
        """Whether a job of this key was given already (its ``following`` need not be given again)."""
        with self.lock:
            return key in self._futures

    def result(self, job: Job[R], following: Sequence[Job[R]] = ()) -> R:
        with self.lock:
            self._learn([job, *following])
            self._asked.add(job.key)
            future = self._futures[job.key]
            self._fill_now()
        try:
            while not future.done():  # a block that began waiting may open a lane: look again
                wait_futures([future], timeout=TICK)
                if not future.done():
                    self._fill()
            return future.result()
        finally:
            with self.lock:
                self._futures.pop(job.key, None)

    def _learn(self, jobs: Sequence[Job[R]]) -> None:
        new = [j for j in jobs if j.key not in self._futures]
        if not new:
            return
        for j in new:
            self._futures[j.key] = Future()
        waiting = {j.key for j in self._pending}
        self._order = [j for j in self._order if j.key in waiting] + new  # not started, in pytest's order
        self._pending = start_order(self._order, lambda j: j.estimate, lambda j: j.chain, lambda j: j.quiet)

    def describe(self) -> str:
        """The lanes as the run summary says them: ``2``, or ``auto (2-8, up to 5 used)``."""
        return self.governor.describe() if self.governor is not None else str(self.lanes)

    def _fill(self, _: object = None) -> None:
        """Start the next jobs while lanes are free; prepare the ``depth`` after those. Called by
        result(), while it waits, and whenever a job ends."""
        with self.lock:
            if not self.closed:
                self._fill_now()

    def _limit(self) -> int:
        if self.governor is None:
            return self.lanes
        now = self.clock()
        return self.governor.lanes(len(self._running), [now - started for _, started in self._running.values()])

    @property
    def first_lanes(self) -> int:
        """The lanes a run starts with (a governor's floor, else the number given)."""
        return self.governor.current if self.governor is not None else self.lanes

    def _fill_now(self) -> None:
        if self._quiet:
            return  # a quiet job runs: nothing starts or is prepared until it ends
        limit = self._limit()
        if limit != self._told and self.on_lanes is not None:
            self._told = limit
            self.on_lanes(limit)
        while len(self._running) < limit:
            busy = {chain for chain, _ in self._running.values() if chain is not None}
            job = next_startable(self._pending, lambda j: j.chain, busy)
            if job is None:
                break
            if job.quiet:  # alone: it waits until the lanes are empty, and nothing passes it
                if not self._running:
                    self._submit(job)
                break
            self._submit(job)
        prepared = 0
        for nxt in self._pending:
            if prepared >= self.depth:
                break
            prepared += 1
            self._prepare(nxt)

    def _prepare(self, job: Job[R]) -> None:
        if job.key not in self._prepared and job.prepare():
            self._prepared.add(job.key)

    def _submit(self, job: Job[R]) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.lanes, thread_name_prefix="harness-t-lane")
        self._pending = [j for j in self._pending if j.key != job.key]
        self._prepare(job)
        if job.key not in self._asked:
            self.started_ahead += 1
        self.started.append(job.key)
        self._running[job.key] = (job.chain, self.clock())
        if job.quiet:
            self._quiet.add(job.key)
        future = self._futures[job.key]
        self._executor.submit(self._run, job, future)

    def _run(self, job: Job[R], future: Future[R]) -> None:
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job.run())
                except BaseException as exc:  # noqa: BLE001 - the job's own result() raises it
                    future.set_exception(exc)
        finally:
            with self.lock:
                self._running.pop(job.key, None)
                self._quiet.discard(job.key)
            self._fill()

    def close(self) -> None:
        """Drop what has not started; wait for the blocks that run (each bounded by its timeouts)."""
        with self.lock:
            executor, self._executor = self._executor, None
            self.closed = True
            for job in self._pending:
                self._futures[job.key].cancel()
            self._pending = []
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
