"""Getting OpenResty containers ready for the fixtures that come next, in the background.

A HUP reload cannot be faster than nginx makes it: after starting the new workers the master waits
a fixed 100 ms (with its signals blocked) before it retires the old ones, and the harness must wait
for that, or a request could still reach an old worker. So a run that knows what comes next (the
scenario catalogue does) switches idle containers of the right shape to the next fixtures while
the current one runs, several at a time, and hands each over ready when its turn comes. Nothing
changes for a caller that never asks: :meth:`ContainerPool.acquire` falls back to a switch of its own.

The prefetcher only talks to its :class:`Source` (the :class:`harness.pool.ContainerPool`): it asks
it to prepare an :class:`OpenRestyPlan`, and gives back or discards what it prepared.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, Hashable, Optional, Protocol, Sequence, TypeVar

from harness.errors import HarnessError
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec, Shape

if TYPE_CHECKING:
    from harness.containers import OpenRestyContainer

log = logging.getLogger(__name__)
DEPTH = 5  # fixtures prepared at once; the pool keeps DEPTH + 1 idle containers (these and the one in use)


class Prepared(Protocol):
    def healthy(self) -> bool: ...


C = TypeVar("C", bound=Prepared)


@dataclass(frozen=True)
class OpenRestyPlan:
    """A spec resolved on a stage: the container's shape, whether it may be pooled, and how to build
    a fresh one."""

    spec: OpenRestySpec
    shape: Shape
    use_pool: bool
    build: Callable[[], "OpenRestyContainer"]

    @property
    def fixture(self) -> Fixture:
        return self.spec.fixture

    @property
    def key(self) -> tuple[Shape, str]:
        return self.shape, self.fixture.digest()


class Source(Protocol[C]):
    def prepare(self, plan: OpenRestyPlan) -> C: ...

    def release(self, container: C) -> None: ...

    def discard(self, container: C) -> None: ...


class Prefetcher(Generic[C]):
    """``want(plan)`` starts preparing a container; ``take(plan)`` hands over what is ready."""

    def __init__(self, source: Source[C], depth: int = DEPTH) -> None:
        self.source = source
        self.depth = depth
        self.lock = threading.Lock()
        self._pending: list[tuple[Hashable, Future]] = []
        self._executor: Optional[ThreadPoolExecutor] = None
        self.hits = 0
        self.misses = 0

    def want(self, plan: OpenRestyPlan) -> bool:
        """Start preparing a container for ``plan`` unless one is on its way or enough are; returns
        whether it started."""
        if not plan.use_pool:
            return False
        with self.lock:
            if any(key == plan.key for key, _ in self._pending) or len(self._pending) >= self.depth:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.depth, thread_name_prefix="harness-prefetch")
            self._pending.append((plan.key, self._executor.submit(self._prepare, plan)))
        return True

    def plan_ahead(self, plans: Sequence[OpenRestyPlan]) -> None:
        """``plans``: the one about to run, then what follows, in order. Prepare the next ``depth``;
        anything prepared for a fixture no longer among them goes back to the pool."""
        keys = [p.key for p in plans[:self.depth + 1]]
        with self.lock:
            stale = [item for item in self._pending if item[0] not in keys]
            for item in stale:
                self._pending.remove(item)
        for _, future in stale:
            future.add_done_callback(self._give_back)
        for plan in plans[1:self.depth + 1]:
            self.want(plan)

    def _give_back(self, future: Future) -> None:
        container = future.result() if not future.exception() else None
        if container is not None:
            self.source.release(container)

    def _prepare(self, plan: OpenRestyPlan) -> Optional[C]:
        try:
            return self.source.prepare(plan)
        except HarnessError as exc:  # a config nginx -t rejects: the caller will hear it first hand
            log.debug("prefetch of %s failed: %s", plan.key, exc.message)
            return None

    def take(self, plan: OpenRestyPlan, timeout: float = 60.0) -> Optional[C]:
        """The container prepared for ``plan`` (waiting for it if it is on its way), or None."""
        with self.lock:
            found = next((item for item in self._pending if item[0] == plan.key), None)
            if found is not None:
                self._pending.remove(found)
        if found is None:
            self.misses += 1
            return None
        try:
            container = found[1].result(timeout=timeout)
        except Exception:  # noqa: BLE001 - the caller's own attempt reports the problem
            container = None
        if container is not None and not container.healthy():
            self.source.discard(container)
            container = None
        self.hits += container is not None
        self.misses += container is None
        return container

    def close(self) -> None:
        """Wait for what is being prepared and give it back to the source."""
        with self.lock:
            pending, self._pending = self._pending, []
        for _, future in pending:
            try:
                container = future.result(timeout=60)
            except Exception:  # noqa: BLE001
                container = None
            if container is not None:
                self.source.release(container)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
