"""ContainerPool: running OpenResty containers, kept between tests and handed out by spec.

``acquire(spec)`` hands out a container serving the spec's fixture: one the prefetcher prepared,
else an idle one of the same :class:`~harness.openresty_spec.Shape` switched by HUP reload, else a
fresh one. ``release(container)`` takes it back (kept if healthy, up to :attr:`max_idle`),
``discard(container)`` removes it. The pool keeps as many idle containers as the prefetcher
prepares at once plus the one in use, so a prefetch never evicts what the next fixture needs.

A container start costs far more than a switch, so a preparation the prefetcher makes ahead starts
a new container only while fewer than :data:`PER_SHAPE` of its shape exist; beyond that it waits
for one to come back, until someone wants it now (the prefetcher's ``hurry``) or
:data:`PATIENCE` runs out. When nginx refuses the first fixture of a shape, a spare container of
that shape starts on an empty fixture, and whoever needs the shape next waits for it rather than
start another container that may be refused too. Workers and the log level are no part of the
shape: a switch renders them (see :meth:`OpenRestyContainer.switch`).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, Protocol, Sequence, TypeVar, Union

from harness.errors import HarnessError, NginxConfigError
from harness.images.resolver import ResolvedImage
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec, Shape
from harness.prefetch import DEPTH, OpenRestyPlan, Prefetcher

log = logging.getLogger(__name__)
__all__ = ["ContainerPool", "Member", "OpenRestyPlan", "Planner", "PoolMember"]


class PoolMember(Protocol):
    """What the pool needs of a container (:class:`~harness.containers.OpenRestyContainer` is the
    one real member): start it, switch it to another fixture, judge its health, hand it out, stop it."""

    @property
    def name(self) -> str: ...
    @property
    def resolved(self) -> ResolvedImage: ...  # its image (``observed`` is keyed by the image id)
    @property
    def identity(self) -> dict[str, Any]: ...  # what its workers reported: jit, nginx, ngx_lua versions
    @property
    def last_switch(self) -> dict[str, float]: ...  # milliseconds per step of its last switch
    @property
    def reloaded_at(self) -> float: ...  # when its master last loaded a config (monotonic)

    def start(self) -> object: ...
    def switch(self, fixture: Fixture, timeout: float = ..., spec: Optional[OpenRestySpec] = ...) -> None: ...
    def healthy(self) -> bool: ...
    def shape(self) -> Shape: ...
    def hand_out(self) -> object: ...
    def complete_identity(self) -> bool: ...
    def stop_quietly(self) -> None: ...


M = TypeVar("M", bound=PoolMember)
Planner = Callable[[OpenRestySpec], OpenRestyPlan[M]]


@dataclass
class Member:
    """The pool's own record of a container it started."""

    shape: Shape
    single_use: bool  # started for a spec that may not be pooled: removed when it comes back
PER_SHAPE = 3  # containers of one shape started for preparations ahead: in use, ready next, being switched
SHAPES_KEPT = 2  # shapes whose containers in lanes stay idle between their blocks (see allow_concurrent)
SPARE = Fixture.inline("harness-spare", config="location = / { return 204; }")  # see _start_spare
PATIENCE = 10.0  # seconds a preparation ahead waits for a container to come back before it starts one


class ContainerPool(Generic[M]):
    """OpenResty containers by shape. ``planner`` turns a spec into a plan (the stage's images,
    network and services); ``switch_timeout`` bounds a HUP switch."""

    def __init__(self, planner: Planner[M], switch_timeout: float = 30.0, depth: int = DEPTH) -> None:
        self.planner = planner
        self.switch_timeout = switch_timeout
        self.prefetcher: Prefetcher[M] = Prefetcher(self, depth)
        self.max_idle = depth + 1
        self.lock = threading.RLock()  # shared with the prefetcher's threads
        self.returned = threading.Condition(self.lock)  # a container came back, one went, or a hurry
        self.per_shape = PER_SHAPE
        self._members: dict[int, Member] = {}  # by id: each container the pool started (not yet removed)
        self._starting: dict[Shape, int] = {}  # fresh starts under way, by shape
        self._waiting: list[tuple[int, Shape]] = []  # preparations waiting for a container, in order
        self._tickets = itertools.count()
        self._spares: Optional[ThreadPoolExecutor] = None  # starts spare containers (see _start_spare)
        self._spares_starting: set[Shape] = set()
        self._closed = False
        self.idle: list[M] = []
        self.busy: list[M] = []
        self.observed: dict[str, dict[str, Any]] = {}  # image id -> what its running workers reported
        self.switches: deque[dict[str, float]] = deque(maxlen=1000)  # steps of recent switches, in ms
        self._remover: Optional[ThreadPoolExecutor] = None  # removes discarded containers, one at a time
        self._removals: list[Future[None]] = []

    def allow_concurrent(self, in_use: int) -> None:
        """Up to ``in_use`` containers of one shape are handed out at once: preparations ahead may
        start that many besides the two of :data:`PER_SHAPE` (ready next, being switched). A master
        takes one reload per 100 ms, so blocks of ~10 ms in two lanes want that many switched ahead
        (lua-resty-lrucache under ``harness t -n 2``: 6.4 s with one fewer, 6.0 s with these).

        The pool then keeps that many idle for each of :data:`SHAPES_KEPT` shapes: a suite's files
        often alternate between two (lua-resty-jwt's blocks that name a host directory of certificates
        and those that do not); with the prefetch depth alone, each shape's blocks evicted the other's
        containers and started new ones (19 starts for 286 blocks in 4 lanes, 8 of them on a lane). It
        does not shrink again when fewer lanes run: they may open again a moment later."""
        self.per_shape = max(PER_SHAPE, in_use + PER_SHAPE - 1)
        self.max_idle = max(self.max_idle, SHAPES_KEPT * self.per_shape)

    def plan(self, spec: Union[OpenRestySpec, OpenRestyPlan[M]]) -> OpenRestyPlan[M]:
        return spec if isinstance(spec, OpenRestyPlan) else self.planner(spec)

    def plan_ahead(self, specs: Sequence[Union[OpenRestySpec, OpenRestyPlan[M]]]) -> None:
        """``specs``: the one about to be acquired, then what follows; the prefetcher prepares the
        next ones (see :meth:`Prefetcher.plan_ahead`)."""
        self.prefetcher.plan_ahead([self.plan(spec) for spec in specs])

    def acquire(self, spec: Union[OpenRestySpec, OpenRestyPlan[M]]) -> M:
        """A container serving ``spec``'s fixture, its :attr:`~OpenRestyContainer.log` cursor at
        the end of error.log now."""
        plan = self.plan(spec)
        container = self.prefetcher.take(plan)
        if container is None:
            container = self.prepare(plan)
        with self.lock:
            self.busy.append(container)
        container.hand_out()
        return container

    def prepare(self, plan: OpenRestyPlan[M], hurry: Optional[threading.Event] = None) -> M:
        """An idle container of the plan's shape switched to its fixture, or a fresh one; not
        handed out (the prefetcher holds it until :meth:`acquire` takes it). With ``hurry`` (a
        preparation ahead), wait for one to come back while :attr:`per_shape` of the shape exist."""
        if plan.use_pool:
            while (candidate := self._take_idle(plan.shape, hurry)) is not None:
                if not candidate.healthy():
                    log.info("discarding unhealthy %s", candidate.name)
                    self.discard(candidate)
                    continue
                try:
                    candidate.switch(plan.fixture, timeout=self.switch_timeout, spec=plan.spec)
                except NginxConfigError:
                    self.release(candidate)  # nginx -t refused the config: the old one keeps serving
                    raise
                except HarnessError:
                    self.discard(candidate)
                    raise
                self.switches.append(dict(candidate.last_switch))
                return candidate
        else:
            with self.lock:
                self._reserve_start(plan.shape)
        try:
            container = plan.build()
            with self.lock:
                self._members[id(container)] = Member(plan.shape, single_use=not plan.use_pool)
        finally:
            with self.lock:
                self._starting[plan.shape] -= 1
        try:
            container.start()
        except NginxConfigError:
            self.discard(container)
            if plan.use_pool:
                self._start_spare(plan)
            raise
        except BaseException:
            self.discard(container)
            raise
        self.observed[container.resolved.id] = dict(container.identity)
        return container

    def _start_spare(self, plan: OpenRestyPlan[M]) -> None:
        """nginx refused the first fixture of a shape, so no container of it runs: start one on
        :data:`SPARE` in the background, for the shape's next fixtures to be switched to (a refusal
        then costs an ``nginx -t``, not a container start)."""
        with self.lock:
            if self._count(plan.shape) or self._closed:
                return
            self._reserve_start(plan.shape)
            self._spares_starting.add(plan.shape)
            if self._spares is None:
                self._spares = ThreadPoolExecutor(1, thread_name_prefix="harness-spare")
            spares = self._spares

        def start() -> None:
            container = None
            try:
                container = self.planner(plan.spec.model_copy(update={"fixture": SPARE})).build()
                with self.lock:
                    self._members[id(container)] = Member(plan.shape, single_use=False)
                container.start()
            except Exception as exc:  # noqa: BLE001 - a spare is an optimisation; the next start reports
                log.info("spare container for %s did not start: %s", plan.fixture.name, exc)
                if container is not None:
                    self.discard(container)
                container = None
            finally:
                if container is not None:
                    self.release(container)
                with self.returned:
                    self._starting[plan.shape] -= 1
                    self._spares_starting.discard(plan.shape)
                    self.returned.notify_all()
        spares.submit(start)

    def _reserve_start(self, shape: Shape) -> None:
        """Count a fresh start of ``shape`` as under way (the caller holds the lock; the start's
        end takes it off again)."""
        self._starting[shape] = self._starting.get(shape, 0) + 1

    def _count(self, shape: Shape) -> int:
        return sum(m.shape == shape for m in self._members.values()) + self._starting.get(shape, 0)

    def _take_idle(self, shape: Shape, hurry: Optional[threading.Event] = None) -> Optional[M]:
        """The idle container of ``shape`` whose master reloaded longest ago (the likeliest to take a
        HUP at once: see :attr:`PoolMember.reloaded_at`), or None: then the caller starts one
        (counted as starting). Waiters are served in the order they came; all wait for a spare on
        its way."""
        deadline = time.monotonic() + PATIENCE
        with self.returned:
            ticket = next(self._tickets)
            self._waiting.append((ticket, shape))
            try:
                while True:
                    first = min(t for t, s in self._waiting if s == shape) == ticket
                    candidate = min((c for c in self.idle if c.shape() == shape), key=lambda c: c.reloaded_at,
                                    default=None) if first else None
                    if candidate is not None:
                        self.idle.remove(candidate)
                        return candidate
                    left = deadline - time.monotonic()
                    spare_coming = shape in self._spares_starting  # as soon as a start, and nginx takes it
                    if left <= 0 or not spare_coming and (hurry is None or hurry.is_set()
                                                          or self._count(shape) < self.per_shape):
                        self._reserve_start(shape)
                        return None
                    self.returned.wait(left)
            finally:
                self._waiting.remove((ticket, shape))
                self.returned.notify_all()  # the next in line may now take what is idle

    @property
    def waiting(self) -> int:
        """Preparations waiting for a container to come back now."""
        with self.lock:
            return len(self._waiting)

    def wake(self) -> None:
        """Let waiting preparations re-check (a hurry was set)."""
        with self.returned:
            self.returned.notify_all()

    def release(self, container: M, reusable: bool = True) -> None:
        """Take a container back; it stays for reuse unless it is single-use or unhealthy."""
        with self.lock:
            if container in self.busy:
                self.busy.remove(container)
            member = self._members.get(id(container))
        single_use = member is not None and member.single_use
        if not (reusable and not single_use and container.healthy()):
            self.discard(container)
            return
        if container.complete_identity():  # after a quiet start: its test is over, the next gets new workers
            self.observed[container.resolved.id] = dict(container.identity)
        with self.returned:
            self.idle.append(container)
            surplus = self.idle[:max(0, len(self.idle) - self.max_idle)]  # the longest idle go
            del self.idle[:len(surplus)]
            self.returned.notify_all()
        for old in surplus:
            self.discard(old)

    def discard(self, container: M) -> None:
        """Remove a container for good, in the background (:meth:`drain` waits for it): its removal
        is no part of the next test's wait."""
        with self.returned:
            if container in self.busy:
                self.busy.remove(container)
            if self._members.pop(id(container), None) is not None:
                self.returned.notify_all()  # one fewer of its shape: a waiting preparation may start one
            if self._remover is None:
                self._remover = ThreadPoolExecutor(1, thread_name_prefix="harness-remove")
            self._removals = [f for f in self._removals if not f.done()]
            self._removals.append(self._remover.submit(container.stop_quietly))

    def close(self) -> None:
        """Give back what the prefetcher holds, then stop every container (and wait for removals)."""
        self.prefetcher.close()
        with self.lock:
            spares, self._spares, self._closed = self._spares, None, True
        if spares is not None:
            spares.shutdown(wait=True)
        with self.lock:
            everything, self.busy, self.idle = [*self.busy, *self.idle], [], []
        if everything:  # side by side: each removal waits on the engine for ~0.3 s
            with ThreadPoolExecutor(min(8, len(everything)), thread_name_prefix="harness-stop") as stopper:
                list(stopper.map(lambda container: container.stop_quietly(), everything))
        self.drain()

    def drain(self) -> None:
        """Wait until every discarded container is removed."""
        with self.lock:
            remover, self._remover, self._removals = self._remover, None, []
        if remover is not None:
            remover.shutdown(wait=True)
