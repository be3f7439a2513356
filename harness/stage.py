"""Stage: a harness session's network, its services (declared, see :mod:`harness.services`), fault
proxies, images, and the :class:`~harness.pool.ContainerPool` that hands out OpenResty containers.

Usable without pytest::

    with Stage.open() as stage:
        nginx = stage.openresty("redis-counter", services=["redis"])  # Redis started first, once
        httpx.get(nginx.base_url + "/count")
        stage.release(nginx)

In tests, use the ``openresty`` fixture instead: it also checks error.log for problems and gives
the container back after the test.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Optional, TypeVar, Union

from testcontainers.core.config import testcontainers_config
from testcontainers.core.network import Network

from harness.containers import (CompanionContainer, DnsContainer, FaultProxyContainer, MemcachedContainer,
                                OpenRestyContainer, Reach,
                                RedisContainer)
from harness.containers.base import ReachMode
from harness.coverage.lines import probe_runner
from harness.coverage.run import CoverageRun
from harness.dependencies import Dependencies
from harness.engine import Engine
from harness.images.profiles import openresty_profile
from harness.images.resolver import ImageResolver, ResolvedImage
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec
from harness.pool import ContainerPool, OpenRestyPlan
from harness.prefetch import Prefetcher
from harness.services import Service, SessionServices
from harness.session import HarnessSession, Removed, sweep_stale
from harness.settings import Settings

log = logging.getLogger(__name__)
RYUK_IMAGE = testcontainers_config.ryuk_image
S = TypeVar("S")


def configure_ryuk(engine: Engine, pull: bool) -> str:
    """Use Ryuk where its image is present or can be pulled; never require it. Returns a description.
    testcontainers reads one process-wide switch, so where Ryuk is unavailable this turns it off for
    the process (called once, from :meth:`Stage.open`)."""
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
    """Containers of one harness session, on an internal network, and their clean-up.

    :meth:`open` is the way in: it also sweeps what dead runs left and sets up Ryuk. Constructing a
    Stage directly (on an existing session, say) does neither."""

    def __init__(self, engine: Engine, settings: Settings, session: Optional[HarnessSession] = None,
                 resolver: Optional[ImageResolver] = None, rootdir: Optional[Path] = None) -> None:
        self.engine = engine
        self.settings = settings
        self.owns_session = session is None
        self.session = session or HarnessSession(engine)
        self.resolver = resolver or ImageResolver.from_settings(engine, settings)
        self.search_path = settings.fixture_search_path(rootdir)
        self.swept = Removed()  # what open() removed of dead runs
        self.ryuk = "not set up (a Stage built directly; Stage.open() sets up Ryuk)"
        self._reach: Optional[Reach] = None
        self._lock = threading.RLock()  # the network is made once, whichever thread asks first
        self.services = SessionServices(self.resolver.resolve, self.session, lambda: self.reach, settings.start_timeout)
        self._proxies: list[FaultProxyContainer] = []  # fault proxies started, for dependencies()
        self._images: dict[str, ResolvedImage] = {}  # image references given per container, resolved once
        self._companions: dict[str, CompanionContainer] = {}  # OpenResty container id -> its companion
        self.pool: ContainerPool[OpenRestyContainer] = ContainerPool(self.plan, switch_timeout=settings.start_timeout)
        self.coverage = CoverageRun.from_setting(settings.coverage, Path.cwd())  # --harness-coverage
        self.reach_mode = self._decide_reach()

    @classmethod
    def open(cls, settings: Optional[Settings] = None, rootdir: Optional[Path] = None,
             engine: Optional[Engine] = None) -> "Stage":
        """A stage on the engine (found, or ``engine``): first the sweep of what dead runs left, and
        Ryuk where its image is available; the session is removed at exit, also on SIGTERM."""
        engine = engine or Engine.connect()
        settings = settings or Settings.from_sources()
        swept = sweep_stale(engine)
        ryuk = configure_ryuk(engine, settings.may_pull)
        stage = cls(engine, settings, rootdir=rootdir)
        stage.swept, stage.ryuk = swept, ryuk
        stage.session.install_exit_handlers()
        return stage

    @property
    def prefetcher(self) -> Prefetcher[OpenRestyContainer]:
        """The pool's prefetcher: ``plan_ahead(plans)``, ``want(plan)``, ``take(plan)``."""
        return self.pool.prefetcher

    @property
    def observed(self) -> dict[str, dict[str, Any]]:
        """Image id -> what the running workers of a container on it reported."""
        return self.pool.observed

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- network ------------------------------------------------------------------------------
    def _decide_reach(self) -> ReachMode:
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
        """The session's networks, made on first use (by whichever thread asks first: the pool's
        preparations run side by side, and every container must join the same network)."""
        with self._lock:
            if self._reach is None:
                internal = self._network(True, "net")
                edge = self._network(False, "edge") if self.reach_mode == "published" else None
                self._reach = Reach(self.reach_mode, internal, edge)
            return self._reach

    def networks_exist(self) -> bool:
        """Whether the networks made so far are still on the engine (a sweep of live runs removes them)."""
        with self._lock:
            nets = [n for n in ((self._reach.internal, self._reach.edge) if self._reach else ()) if n is not None]
        try:
            for net in nets:
                self.engine.client.networks.get(net.name)
        except Exception:  # noqa: BLE001 - gone, or the engine cannot say: not usable
            return False
        return True

    # ---- services ----------------------------------------------------------------------------
    def _service(self, name: str, kind: type[S]) -> S:
        service: Service = self.services.use(name)
        assert isinstance(service, kind)
        return service

    def redis(self) -> RedisContainer:
        """The session's Redis (started on first use); ``services=["redis"]`` gives OpenResty its address."""
        return self._service("redis", RedisContainer)

    def dns(self) -> DnsContainer:
        """The session's DNS server (started on first use); ``services=["dns"]`` gives OpenResty DNS_SERVER."""
        return self._service("dns", DnsContainer)

    def memcached(self) -> MemcachedContainer:
        """The session's memcached (started on first use); ``services=["memcached"]`` gives OpenResty its address."""
        return self._service("memcached", MemcachedContainer)

    def fault_proxy(self, routes: dict[str, tuple[int, str, int]]) -> FaultProxyContainer:
        """A new TCP fault proxy on the session network (the caller stops it): routes are
        ``{name: (listen_port, upstream_host, upstream_port)}``."""
        container = FaultProxyContainer(self.resolver.resolve("tools"), self.session, self.reach, routes)
        try:
            container.with_start_timeout(self.settings.start_timeout).start()
        except BaseException:
            container.stop_quietly()
            raise
        self._proxies = [p for p in self._proxies if not p.stopped] + [container]
        return container

    def companion(self, nginx: OpenRestyContainer) -> CompanionContainer:
        """The network-namespace companion of ``nginx`` (started on first ask; a reused container
        keeps it): its 127.0.0.1 forwards and mock peers. It is stopped when ``nginx`` stops."""
        key = nginx.get_container_id()
        with self._lock:
            found = self._companions.get(key)
        if found is not None:
            return found
        container = CompanionContainer(self.resolver.resolve("tools"), self.session, nginx)
        try:
            container.with_start_timeout(self.settings.start_timeout).start()
        except BaseException:
            container.stop_quietly()
            raise

        def gone() -> None:
            with self._lock:
                self._companions.pop(key, None)
            container.stop_quietly()
        nginx.on_stop.append(gone)
        with self._lock:
            self._companions[key] = container
        return container

    def dependencies(self, nginx: Optional[OpenRestyContainer] = None) -> Dependencies:
        """Counters of what ``nginx`` depends on: the session's Redis and DNS server (if started) and
        every fault proxy still running (see :mod:`harness.dependencies`)."""
        proxies = [p for p in self._proxies if not p.stopped]
        redis, dns = self.services.get("redis"), self.services.get("dns")
        assert redis is None or isinstance(redis, RedisContainer)
        assert dns is None or isinstance(dns, DnsContainer)
        return Dependencies(nginx, redis=redis, proxies=proxies, dns=dns)

    def fixture(self, fixture: str | Path | Fixture) -> Fixture:
        return fixture if isinstance(fixture, Fixture) else Fixture.load(fixture, self.search_path)

    def spec(self, fixture: Union[str, Path, Fixture, OpenRestySpec], **options: Any) -> OpenRestySpec:
        """The :class:`OpenRestySpec` of ``fixture`` (a name or directory is looked up) with these
        options (see :class:`~harness.openresty_spec.OpenRestyOptions`); a spec is taken as it is,
        with ``options`` applied over it."""
        if isinstance(fixture, OpenRestySpec):
            return fixture.with_options(**options) if options else fixture
        return OpenRestySpec.of(self.fixture(fixture), **options)

    def openresty(self, fixture: Union[str, Path, Fixture, OpenRestySpec], **options: Any) -> OpenRestyContainer:
        """An OpenResty serving ``fixture`` (or an :class:`OpenRestySpec`) with these options: one the
        prefetcher prepared, an idle one of the same shape switched by HUP, or a new one. The caller
        gives it back with :meth:`release`. ``reuse=False`` (or ``HARNESS_REUSE=fresh``): a fresh
        container, removed on release. ``image``: this image instead of the session's OpenResty image."""
        return self.pool.acquire(self.spec(fixture, **options))

    def plan(self, fixture: Union[str, Path, Fixture, OpenRestySpec], **options: Any) -> OpenRestyPlan[OpenRestyContainer]:
        """What :meth:`openresty` with these arguments needs: the spec, the container's shape, and
        how to build a fresh one (what ``prefetcher.want`` and ``plan_ahead`` take). The services the
        spec declares are started here (once per session) and their addresses become its env, under
        the spec's own ``env``."""
        spec = self.spec(fixture, **options)
        image = self.openresty_image(spec.image)
        env = {**self.services.env(spec.services), **spec.env}
        use_pool = spec.reuse if spec.reuse is not None else self.settings.reuses

        def build() -> OpenRestyContainer:
            container = OpenRestyContainer(image, self.session, self.reach, spec)
            for key, value in env.items():
                container.with_env(key, value)
            return container.with_coverage(self.coverage).with_start_timeout(self.settings.start_timeout)
        return OpenRestyPlan(spec, spec.shape(image.id, env), use_pool, build)

    def openresty_image(self, ref: str = "") -> ResolvedImage:
        """The session's OpenResty image, or the image ``ref`` (which must exist or be pullable)."""
        if not ref:
            return self.resolver.resolve("openresty")
        if ref not in self._images:
            resolver = ImageResolver(self.engine, {"openresty": ref}, pull=self.settings.may_pull,
                                     twin=self.settings.twin)
            self._images[ref] = resolver.resolve("openresty")
        return self._images[ref]

    def release(self, container: OpenRestyContainer, reusable: bool = True) -> None:
        """Give a container back after a test; it stays for reuse unless it is unhealthy."""
        self.pool.release(container, reusable)

    def measure_coverage(self, run: CoverageRun) -> None:
        """The code lines of the files ``run`` saw, by the LuaJIT of the session's OpenResty image."""
        try:
            image = self.openresty_image()
            run.measure(probe_runner(image, self.session, self.reach, openresty_profile(image.labels).luajit_bin))
        except Exception as exc:  # noqa: BLE001 - the report then says the lines were not measured
            log.warning("coverage: code lines not measured: %s", exc)

    def close(self) -> None:
        """Stop every container and remove the networks; if the session is ours, remove anything
        else labelled with it too."""
        self.pool.close()
        if self.coverage is not None and self.coverage.unmeasured:
            self.measure_coverage(self.coverage)
        self.services.close()
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
