"""ContainerPool: running OpenResty containers, kept between tests and handed out by spec.

``acquire(spec)`` hands out a container serving the spec's fixture: one the prefetcher prepared,
else an idle one of the same :class:`~harness.openresty_spec.Shape` switched by HUP reload, else a
fresh one. ``release(container)`` takes it back (kept if healthy, up to :attr:`max_idle`),
``discard(container)`` removes it. The pool keeps as many idle containers as the prefetcher
prepares at once plus the one in use, so a prefetch never evicts what the next fixture needs.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence, Union

from harness.containers import OpenRestyContainer
from harness.errors import HarnessError, NginxConfigError
from harness.openresty_spec import OpenRestySpec, Shape
from harness.prefetch import DEPTH, OpenRestyPlan, Prefetcher

log = logging.getLogger(__name__)
__all__ = ["ContainerPool", "OpenRestyPlan", "Planner"]


Planner = Callable[[OpenRestySpec], OpenRestyPlan]


class ContainerPool:
    """OpenResty containers by shape. ``planner`` turns a spec into a plan (the stage's images,
    network and services); ``switch_timeout`` bounds a HUP switch."""

    def __init__(self, planner: Planner, switch_timeout: float = 30.0, depth: int = DEPTH) -> None:
        self.planner = planner
        self.switch_timeout = switch_timeout
        self.prefetcher: Prefetcher[OpenRestyContainer] = Prefetcher(self, depth)
        self.max_idle = depth + 1
        self.lock = threading.RLock()  # shared with the prefetcher's threads
        self.idle: list[OpenRestyContainer] = []
        self.busy: list[OpenRestyContainer] = []
        self.observed: dict[str, dict] = {}  # image id -> what its running workers reported

    def plan(self, spec: Union[OpenRestySpec, OpenRestyPlan]) -> OpenRestyPlan:
        return spec if isinstance(spec, OpenRestyPlan) else self.planner(spec)

    def plan_ahead(self, specs: Sequence[Union[OpenRestySpec, OpenRestyPlan]]) -> None:
        """``specs``: the one about to be acquired, then what follows; the prefetcher prepares the
        next ones (see :meth:`Prefetcher.plan_ahead`)."""
        self.prefetcher.plan_ahead([self.plan(spec) for spec in specs])

    def acquire(self, spec: Union[OpenRestySpec, OpenRestyPlan]) -> OpenRestyContainer:
        """A container serving ``spec``'s fixture, its :attr:`~OpenRestyContainer.log` cursor at
        the end of error.log now."""
        plan = self.plan(spec)
        container = self.prefetcher.take(plan) if plan.use_pool else None
        if container is None:
            container = self.prepare(plan)
        with self.lock:
            self.busy.append(container)
        container.hand_out()
        return container

    def prepare(self, plan: OpenRestyPlan) -> OpenRestyContainer:
        """An idle container of the plan's shape switched to its fixture, or a fresh one; not
        handed out (the prefetcher holds it until :meth:`acquire` takes it)."""
        if plan.use_pool:
            while (candidate := self._take_idle(plan.shape)) is not None:
                if not candidate.healthy():
                    log.info("discarding unhealthy %s", candidate.name)
                    self.discard(candidate)
                    continue
                try:
                    candidate.switch(plan.fixture, timeout=self.switch_timeout)
                except NginxConfigError:
                    self.release(candidate)  # nginx -t refused the config: the old one keeps serving
                    raise
                except HarnessError:
                    self.discard(candidate)
                    raise
                return candidate
        container = plan.build()
        try:
            container.start()
        except BaseException:
            self.discard(container)
            raise
        container.single_use = not plan.use_pool
        self.observed[container.resolved.id] = dict(container.identity)
        return container

    def _take_idle(self, shape: Shape) -> Optional[OpenRestyContainer]:
        with self.lock:
            candidate = next((c for c in self.idle if c.shape() == shape), None)
            if candidate is not None:
                self.idle.remove(candidate)
            return candidate

    def release(self, container: OpenRestyContainer, reusable: bool = True) -> None:
        """Take a container back; it stays for reuse unless it is single-use or unhealthy."""
        with self.lock:
            if container in self.busy:
                self.busy.remove(container)
        if not (reusable and not container.single_use and container.healthy()):
            self.discard(container)
            return
        with self.lock:
            self.idle.append(container)
            surplus = self.idle[:max(0, len(self.idle) - self.max_idle)]  # the longest idle go
            del self.idle[:len(surplus)]
        for old in surplus:
            self.discard(old)

    def discard(self, container: OpenRestyContainer) -> None:
        """Remove a container for good."""
        with self.lock:
            if container in self.busy:
                self.busy.remove(container)
        container.stop_quietly()

    def close(self) -> None:
        """Give back what the prefetcher holds, then stop every container."""
        self.prefetcher.close()
        with self.lock:
            everything, self.busy, self.idle = [*self.busy, *self.idle], [], []
        if everything:  # side by side: each removal waits on the engine for ~0.3 s
            with ThreadPoolExecutor(min(8, len(everything)), thread_name_prefix="harness-stop") as stopper:
                list(stopper.map(lambda container: container.stop_quietly(), everything))
