"""Stage: the session's containers on one internal network, with reuse of running OpenResty masters.

Usable without pytest::

    with Stage.open() as stage:
        redis = stage.redis()
        nginx = stage.openresty("redis-counter")
        httpx.get(nginx.base_url + "/count")
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Optional, Sequence

from testcontainers.core.config import testcontainers_config
from testcontainers.core.network import Network

from harness.containers import DnsContainer, FaultProxyContainer, OpenRestyContainer, Reach, RedisContainer
from harness.containers.base import HarnessContainer
from harness.containers.openresty import Limits, shape_of
from harness.engine import Engine
from harness.errors import HarnessError, NginxConfigError
from harness.images.resolver import ImageResolver, ResolvedImage
from harness.nginx_conf import Fixture
from harness.prefetch import OpenRestyPlan, Prefetcher
from harness.session import HarnessSession, sweep_stale
from harness.settings import Settings

log = logging.getLogger(__name__)
RYUK_IMAGE = testcontainers_config.ryuk_image
MAX_IDLE = 6  # OpenResty containers kept for reuse between tests (prefetch.DEPTH + 1)


def configure_ryuk(engine: Engine, pull: bool) -> str:
    """Use Ryuk where its image is present or can be pulled; never require it. Returns a description."""
    if testcontainers_config.ryuk_disabled:
        return "Ryuk disabled by configuration; the harness cleans up itself"
    try:
        engine.client.images.get(RYUK_IMAGE)
        return f"Ryuk ({RYUK_IMAGE}) reaps containers if this process dies"
    except Exception:  # noqa: BLE001
        pass
    if pull:
        try:
            engine.client.images.pull(RYUK_IMAGE)
            return f"Ryuk ({RYUK_IMAGE}, pulled) reaps containers if this process dies"
        except Exception:  # noqa: BLE001
            pass
    testcontainers_config.ryuk_disabled = True
    return f"Ryuk unavailable ({RYUK_IMAGE} cannot be pulled); the harness's sweep cleans up after killed runs"


class Stage:
    """Containers of one harness session, on an internal network, and their clean-up."""

    def __init__(self, engine: Engine, settings: Settings, session: Optional[HarnessSession] = None,
                 resolver: Optional[ImageResolver] = None, rootdir: Optional[Path] = None) -> None:
        self.engine = engine
        self.settings = settings
        self.owns_session = session is None
        self.session = session or HarnessSession(engine)
        self.resolver = resolver or ImageResolver(
            engine, {"openresty": settings.openresty_image, "redis": settings.redis_image,
                     "tools": settings.tools_image},
            pull=settings.pull == "auto")
        self.search_path = settings.fixture_search_path(rootdir)
        self.swept = sweep_stale(engine)
        self.ryuk = configure_ryuk(engine, settings.pull == "auto")
        self._reach: Optional[Reach] = None
        self._redis: Optional[RedisContainer] = None
        self._dns: Optional[DnsContainer] = None
        self._idle: list[OpenRestyContainer] = []
        self.observed: dict[str, dict] = {}  # image id -> what its running workers reported
        self._busy: list[OpenRestyContainer] = []
        self.lock = threading.RLock()  # the pool is shared with the prefetcher's threads
        self.prefetcher = Prefetcher(self)
        self.reach_mode = self._decide_reach()

    @classmethod
    def open(cls, settings: Optional[Settings] = None, rootdir: Optional[Path] = None) -> "Stage":
        engine = Engine.connect()
        stage = cls(engine, settings or Settings.from_sources(), rootdir=rootdir)
        stage.session.install_exit_handlers()
        return stage

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- network ------------------------------------------------------------------------------
    def _decide_reach(self) -> str:
        if self.settings.reach != "auto":
            return self.settings.reach
        return "direct" if self.engine.is_local else "published"

    def _network(self, internal: bool, kind: str) -> Network:
        net = Network(docker_network_kw={"internal": internal, "labels": dict(self.session.labels),
                                         "driver": "bridge"})
        net.name = self.session.name(kind)
        return net.create()

    @property
    def reach(self) -> Reach:
        if self._reach is None:
            internal = self._network(True, "net")
            edge = self._network(False, "edge") if self.reach_mode == "published" else None
            self._reach = Reach(self.reach_mode, internal, edge)
        return self._reach

    # ---- services -----------------------------------------------------------------------------
    def redis(self) -> RedisContainer:
        """The session's Redis (started on first use); OpenResty containers started later find it."""
        if self._redis is None or not self._redis.state().get("Running"):
            container = RedisContainer(self.resolver.resolve("redis"), self.session, self.reach)
            container.start_timeout = self.settings.start_timeout
            self._redis = container.start()
        return self._redis

    def dns(self) -> DnsContainer:
        """The session's DNS server (started on first use); OpenResty started later gets DNS_SERVER."""
        if self._dns is None or not self._dns.state().get("Running"):
            container = DnsContainer(self.resolver.resolve("tools"), self.session, self.reach)
            container.start_timeout = self.settings.start_timeout
            self._dns = container.start()
        return self._dns

    def fault_proxy(self, routes: dict[str, tuple[int, str, int]]) -> FaultProxyContainer:
        """A new TCP fault proxy on the session network (the caller stops it): routes are
        ``{name: (listen_port, upstream_host, upstream_port)}``."""
        container = FaultProxyContainer(self.resolver.resolve("tools"), self.session, self.reach, routes)
        container.start_timeout = self.settings.start_timeout
        try:
            return container.start()
        except BaseException:
            self._discard(container)
            raise

    def service_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for service in (self._redis, self._dns):
            if service is not None:
                env.update(service.service_env())
        return env

    def fixture(self, fixture: str | Path | Fixture) -> Fixture:
        return fixture if isinstance(fixture, Fixture) else Fixture.load(fixture, self.search_path)

    def openresty(self, fixture: str | Path | Fixture, *, workers: int | str = 1,
                  env: Optional[Mapping[str, str]] = None, memory: Optional[str] = None,
                  cpus: Optional[float] = None, nofile: Optional[int] = None,
                  ports: Sequence[int] = (), error_log_level: str = "info",
                  reuse: Optional[bool] = None, init: bool = False, image: str = "",
                  mounts: Sequence[tuple[str, str]] = (), workdir: str = "") -> OpenRestyContainer:
        """An OpenResty serving ``fixture``: an idle one of the same shape switched by HUP, or a new one.
        ``reuse=False`` (or ``HARNESS_REUSE=fresh``): a fresh container, removed after its test.
        ``image``: this image reference instead of the session's OpenResty image. ``mounts``: host
        directories bind-mounted read-only (host, container path); ``workdir``: nginx's working directory."""
        plan = self.plan(fixture, workers=workers, env=env, memory=memory, cpus=cpus, nofile=nofile, ports=ports,
                         error_log_level=error_log_level, reuse=reuse, init=init, image=image, mounts=mounts,
                         workdir=workdir)
        if plan.use_pool:
            ready = self.prefetcher.take(plan)
            if ready is not None:
                with self.lock:
                    self._busy.append(ready)
                return ready
        return self.obtain(plan)

    def plan(self, fixture: str | Path | Fixture, *, workers: int | str = 1,
             env: Optional[Mapping[str, str]] = None, memory: Optional[str] = None,
             cpus: Optional[float] = None, nofile: Optional[int] = None,
             ports: Sequence[int] = (), error_log_level: str = "info",
             reuse: Optional[bool] = None, init: bool = False, image: str = "",
             mounts: Sequence[tuple[str, str]] = (), workdir: str = "") -> "OpenRestyPlan":
        """What :meth:`openresty` with these arguments needs: the fixture, the container's shape, and
        how to build a fresh one."""
        fx = self.fixture(fixture)
        image_used = self.openresty_image(image)
        full_env = {**self.service_env(), **(env or {})}
        limits = Limits(memory=memory, cpus=cpus, nofile=nofile)
        mounts = tuple((str(host), path) for host, path in mounts)
        shape = shape_of(image_used, workers, error_log_level, full_env, limits, tuple(ports), init, mounts, workdir)
        use_pool = reuse if reuse is not None else self.settings.reuse == "hup"

        def build() -> OpenRestyContainer:
            container = (OpenRestyContainer(image_used, self.session, self.reach, fx, tuple(ports))
                         .with_workers(workers).with_error_log_level(error_log_level)
                         .with_limits(memory=memory, cpus=cpus, nofile=nofile)
                         .with_start_timeout(self.settings.start_timeout).with_init(init).with_workdir(workdir))
            for host, path in mounts:
                container.with_read_only_mount(host, path)
            for key, value in full_env.items():
                container.with_env(key, value)
            return container
        return OpenRestyPlan(fx, shape, use_pool, build)

    def obtain(self, plan: "OpenRestyPlan") -> OpenRestyContainer:
        """An idle container of the plan's shape switched by HUP to its fixture, or a fresh one."""
        if plan.use_pool:
            while (candidate := self._take_idle(plan.shape)) is not None:
                if not candidate.healthy():
                    log.info("discarding unhealthy %s", candidate.name)
                    self._discard(candidate)
                    continue
                try:
                    candidate.switch(plan.fixture, timeout=self.settings.start_timeout)
                except NginxConfigError:
                    self.release(candidate)  # nginx -t refused the config: the old one keeps serving
                    raise
                except HarnessError:
                    self._discard(candidate)
                    raise
                with self.lock:
                    self._busy.append(candidate)
                return candidate
        container = plan.build()
        try:
            container.start()
        except BaseException:
            self._discard(container)
            raise
        container.single_use = not plan.use_pool
        with self.lock:
            self._busy.append(container)
        self.observed[container.resolved.id] = dict(container.identity)
        return container

    def _take_idle(self, shape: tuple) -> Optional[OpenRestyContainer]:
        with self.lock:
            candidate = next((c for c in self._idle if c.shape() == shape), None)
            if candidate is not None:
                self._idle.remove(candidate)
            return candidate

    def openresty_image(self, ref: str = "") -> ResolvedImage:
        """The session's OpenResty image, or the image ``ref`` (which must exist or be pullable)."""
        if not ref:
            return self.resolver.resolve("openresty")
        return ImageResolver(self.engine, {"openresty": ref}, pull=self.settings.pull == "auto").resolve("openresty")

    def release(self, container: OpenRestyContainer, reusable: bool = True) -> None:
        """Give a container back after a test; it stays for reuse unless it is unhealthy."""
        with self.lock:
            if container in self._busy:
                self._busy.remove(container)
        if reusable and not container.single_use and container.healthy():
            with self.lock:
                self._idle.append(container)
                surplus = self._idle[:max(0, len(self._idle) - MAX_IDLE)]  # the longest idle go
                del self._idle[:len(surplus)]
            for old in surplus:
                self._discard(old)
        else:
            self._discard(container)

    def _discard(self, container: HarnessContainer) -> None:
        try:
            container.stop()
        except Exception:  # noqa: BLE001 - never created, or already gone
            log.debug("stop of %s failed", container, exc_info=True)

    def close(self) -> None:
        """Stop every container and remove the networks; if the session is ours, remove anything
        else labelled with it too."""
        self.prefetcher.close()
        containers = [*self._busy, *self._idle, *(s for s in (self._redis, self._dns) if s is not None)]
        if containers:  # removed side by side: each removal waits on the engine for ~0.3 s
            with ThreadPoolExecutor(min(8, len(containers)), thread_name_prefix="harness-stop") as pool:
                list(pool.map(self._discard, containers))
        self._busy.clear()
        self._idle.clear()
        self._redis = None
        self._dns = None
        if self._reach is not None:
            for net in (self._reach.internal, self._reach.edge):
                if net is not None:
                    try:
                        net.remove()
                    except Exception:  # noqa: BLE001
                        log.debug("network removal failed", exc_info=True)
            self._reach = None
        if self.owns_session:
            self.session.cleanup()
