"""Getting OpenResty containers ready for the fixtures that come next, in the background.

A switch costs a few milliseconds of work (the in-container agent HUPs the master and retires the
old workers itself), but after each reload nginx's master sleeps 100 ms with its signals blocked,
so the same container cannot take the next reload before then; and a fresh container costs a
container start. A run that knows what comes next (the scenario catalogue does) therefore prepares
the next fixtures while the current one runs: idle containers of the right shape switched, several
at a time, and new containers started for scenarios that must have their own; each is handed over
ready when its turn comes. Nothing changes for a caller that never asks:
:meth:`ContainerPool.acquire` falls back to a switch or a start of its own.

The prefetcher only talks to its :class:`Source` (the :class:`harness.pool.ContainerPool`): it asks
it to prepare an :class:`OpenRestyPlan`, and gives back or discards what it prepared.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Hashable, Optional, Protocol, Sequence, TypeVar

from harness.errors import HarnessError, NginxConfigError
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec, Shape

log = logging.getLogger(__name__)
DEPTH = 5  # fixtures prepared at once; the pool keeps DEPTH + 1 idle containers (these and the one in use)
FRESH_DEPTH = 2  # of which new containers (for plans that may not use pooled ones) started at once


class Prepared(Protocol):
    def healthy(self) -> bool: ...


C = TypeVar("C", bound=Prepared)


@dataclass(frozen=True)
class OpenRestyPlan(Generic[C]):
    """A spec resolved on a stage: the container's shape, whether it may be pooled, and how to build
    a fresh one (an :class:`~harness.containers.OpenRestyContainer` on a real stage)."""

    spec: OpenRestySpec
    shape: Shape
    use_pool: bool
    build: Callable[[], C]

    @property
    def fixture(self) -> Fixture:
        return self.spec.fixture

    @property
    def key(self) -> tuple[Shape, str, bool]:
        return self.shape, self.fixture.digest(), self.use_pool


class Source(Protocol[C]):
    def prepare(self, plan: OpenRestyPlan[C], hurry: Optional[threading.Event] = None) -> C:
        """A container for ``plan``. With ``hurry`` the source may wait for one of its own to come
        back rather than start another, until ``hurry`` is set (someone waits for it now)."""
        ...

    def wake(self) -> None:
        """A ``hurry`` was set: re-check what waits."""
        ...

    def release(self, container: C) -> None: ...

    def discard(self, container: C) -> None: ...


@dataclass(frozen=True)
class Pending:
    """A preparation on its way: its plan's key, its future (a container, or the config error nginx
    -t gave, or None), whether it starts a fresh container, and whether someone waits for it now."""

    key: Hashable
    future: Future[Any]
    fresh: bool
    hurry: threading.Event


class Prefetcher(Generic[C]):
    """``want(plan)`` starts preparing a container; ``take(plan)`` hands over what is ready."""

    def __init__(self, source: Source[C], depth: int = DEPTH) -> None:
        self.source = source
        self.depth = depth
        self.lock = threading.Lock()
        self._pending: list[Pending] = []
        self._executor: Optional[ThreadPoolExecutor] = None
        self._epoch = 0  # counts close(): what a close interrupted starts nothing afterwards
        self.hits = 0
        self.misses = 0

    def want(self, plan: OpenRestyPlan[C]) -> bool:
        """Start preparing a container for ``plan`` unless one is on its way or enough are (a plan
        that needs a fresh container: at most :data:`FRESH_DEPTH` at once, container starts being
        heavy on the engine); returns whether it started."""
        with self.lock:
            if any(item.key == plan.key for item in self._pending) or len(self._pending) >= self.depth:
                return False
            if not plan.use_pool and sum(item.fresh for item in self._pending) >= FRESH_DEPTH:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.depth, thread_name_prefix="harness-prefetch")
            hurry = threading.Event()
            self._pending.append(Pending(plan.key, self._executor.submit(self._prepare, plan, hurry),
                                         not plan.use_pool, hurry))
        return True

    def plan_ahead(self, plans: Sequence[OpenRestyPlan[C]]) -> None:
        """``plans``: the one about to run, then what follows, in order. Prepare the first ``depth``
        (the one about to run too, unless it is on its way: :meth:`take` then waits for it; the
        others start once it is ready); anything prepared for a fixture no longer among them goes
        back to the pool."""
        keys = [p.key for p in plans[:self.depth + 1]]
        with self.lock:
            stale = [item for item in self._pending if item.key not in keys]
            for item in stale:
                self._pending.remove(item)
        for item in stale:
            item.hurry.set()  # nobody will wait for it: it need not wait either
            item.future.add_done_callback(self._give_back)
        if stale:
            self.source.wake()
        rest = plans[1:self.depth + 1]
        if plans and self.want(plans[0]):
            # the caller waits for this one now: the others start once it is ready, not against it
            with self.lock:
                first = next((item.future for item in self._pending if item.key == plans[0].key), None)
            if first is not None:
                epoch = self._epoch
                first.add_done_callback(lambda _: [self.want(plan) for plan in rest if self._epoch == epoch])
                return
        for plan in rest:
            self.want(plan)

    def _give_back(self, future: Future[Any]) -> None:
        container = future.result() if not future.exception() else None
        if container is not None and not isinstance(container, NginxConfigError):
            self.source.release(container)

    def _prepare(self, plan: OpenRestyPlan[C], hurry: threading.Event) -> "Optional[C | NginxConfigError]":
        try:
            return self.source.prepare(plan, hurry)
        except NginxConfigError as exc:  # nginx -t rejected it: take() raises it (no second nginx -t)
            return exc
        except HarnessError as exc:  # anything else: the caller's own attempt will report it
            log.debug("prefetch of %s failed: %s", plan.key, exc.message)
            return None

    def take(self, plan: OpenRestyPlan[C], timeout: float = 60.0) -> Optional[C]:
        """The container prepared for ``plan`` (waiting for it if it is on its way), or None; raises
        the :class:`NginxConfigError` its preparation met."""
        with self.lock:
            found = next((item for item in self._pending if item.key == plan.key), None)
            if found is not None:
                self._pending.remove(found)
        if found is None:
            self.misses += 1
            return None
        found.hurry.set()  # wanted now: no more waiting for a container to come back
        self.source.wake()
        try:
            container = found.future.result(timeout=timeout)
        except Exception:  # noqa: BLE001 - the caller's own attempt reports the problem
            container = None
        if isinstance(container, NginxConfigError):
            self.hits += 1
            raise container
        if container is not None and not container.healthy():
            self.source.discard(container)
            container = None
        self.hits += container is not None
        self.misses += container is None
        prepared: Optional[C] = container
        return prepared

    def close(self) -> None:
        """Wait for what is being prepared and give it back to the source."""
        with self.lock:
            pending, self._pending = self._pending, []
            self._epoch += 1
        for item in pending:
            item.hurry.set()
        if pending:
            self.source.wake()
        for item in pending:
            try:
                container = item.future.result(timeout=60)
            except Exception:  # noqa: BLE001
                container = None
            if container is not None and not isinstance(container, NginxConfigError):
                self.source.release(container)
        with self.lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
