"""Declared services: what an OpenResty container may depend on (Redis, the DNS server, memcached),
each defined once in :data:`SERVICES`, and :class:`SessionServices`, the session object that starts,
shares, resets and stops them for every front end.

A front end only declares what an OpenResty needs (``OpenRestySpec.services``): the pytest fixtures
``redis``/``dns``/``memcached`` (and the ``services=`` keyword), YAML ``services:``, the placeholders
a ``.t`` file's config names (``${REDIS_HOST}``, ``${DNS_SERVER}``, ``${MEMCACHED_PORT}``...).
``Stage.plan`` starts the declared services once per session and gives the container their
addresses as environment, so the pool's ``Shape`` follows from the declaration alone.

A new service is one :class:`ServiceDef`: its name, the image it runs, the class that builds it (one
container, or several behind one object: anything that is a :class:`Service`), the variables it
gives OpenResty, the port a fault proxy or a per-container companion forwards to, and the
``TEST_NGINX_*`` port variables a ``.t`` suite finds it at on 127.0.0.1 (:class:`LocalPort`).
"""
from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol

from harness.containers.base import Reach
from harness.containers.dns import DNS_PORT, DnsContainer
from harness.containers.memcached import MEMCACHED_PORT, MemcachedContainer
from harness.containers.redis import REDIS_PORT, RedisContainer
from harness.images.resolver import ResolvedImage
from harness.service_options import ClusterOptions, RedisOptions, ReplicatedOptions, SentinelOptions, ServiceOptions
from harness.session import HarnessSession
from harness.topologies import RedisCluster, ReplicatedRedis, SentinelRedis
from harness.containers.redis_node import SENTINEL_PORT


class Service(Protocol):
    """What the session needs of a running service (one container, or several behind one object)."""

    @property
    def ip(self) -> str: ...

    def with_start_timeout(self, seconds: float) -> Any: ...

    def start(self) -> Any: ...

    def stop_quietly(self) -> None: ...

    def running(self) -> bool: ...

    def service_env(self) -> dict[str, str]: ...

    def reset(self) -> None: ...


Build = Callable[[ResolvedImage, HarnessSession, Reach, Any], Service]  # the last: its options object


def no_options(cls: Callable[[ResolvedImage, HarnessSession, Reach], Service]) -> Build:
    """The builder of a service that takes no options."""
    return lambda image, session, reach, options: cls(image, session, reach)


@dataclass(frozen=True)
class LocalPort:
    """A port a Test::Nginx suite looks for a service at on 127.0.0.1 (a ``.t`` block's companion
    forwards it there): the ``TEST_NGINX_*`` variable that gives its number, and which of the service's
    addresses answers (one of its env variables: ``NAME_HOST``, with ``NAME_PORT``, or a list
    ``ip:port,...`` and the item's index). ``alias``: a second port to the same address (an ACL port:
    the node has the users, ``--harness-redis-users``)."""

    var: str
    address: str
    index: int = 0
    alias: bool = False


@dataclass(frozen=True)
class ServiceDef:
    """One service, defined once."""

    name: str
    doc: str
    image: str  # the image kind it runs (harness.images.resolver.OFFICIAL), listed by `harness doctor`
    build: Build
    env: tuple[str, ...]  # the variables OpenResty gets (also the ${NAME} placeholders that declare it)
    port: int  # where it serves: a fault proxy's route and a companion's forward lead there
    host_env: str  # the variable a fault proxy in front of it replaces with its own address
    reset: str  # how it is made fresh for the next test (docs)
    options: ServiceOptions = ServiceOptions()  # the declared service's (harness.service_options)
    local: tuple[LocalPort, ...] = ()  # where a .t suite finds it on 127.0.0.1 (the companion's forwards)


SERVICES: dict[str, ServiceDef] = {d.name: d for d in (
    ServiceDef("redis", "the session's Redis (redis-server, no persistence)", "redis", RedisContainer,
               ("REDIS_HOST", "REDIS_PORT"), REDIS_PORT, "REDIS_HOST",
               "FLUSHALL, CONFIG RESETSTAT, every other client's connection closed", RedisOptions(),
               (LocalPort("TEST_NGINX_REDIS_PORT", "REDIS_HOST"),
                LocalPort("TEST_NGINX_REDIS_PORT_AUTH", "REDIS_HOST", alias=True))),
    ServiceDef("dns", "the harness's DNS server (answers set per name, every query recorded)", "tools",
               no_options(DnsContainer), ("DNS_SERVER",), DNS_PORT, "DNS_SERVER", "every answer set is forgotten"),
    ServiceDef("memcached", "the session's memcached", "memcached", no_options(MemcachedContainer),
               ("MEMCACHED_HOST", "MEMCACHED_PORT"), MEMCACHED_PORT, "MEMCACHED_HOST", "flush_all",
               local=(LocalPort("TEST_NGINX_MEMCACHED_PORT", "MEMCACHED_HOST"),)),
    # Redis as production runs it (docs/redis-topologies.md); a test that breaks one may ask for its
    # own with @pytest.mark.redis_topology(...)
    ServiceDef("redis_replicated", "a replicated Redis: a master and 1 replica (REPLICAOF), in sync", "redis",
               ReplicatedRedis, ("REDIS_MASTER_HOST", "REDIS_MASTER_PORT", "REDIS_REPLICAS"), REDIS_PORT,
               "REDIS_MASTER_HOST", "FLUSHALL on the master, replication in sync again", ReplicatedOptions()),
    ServiceDef("redis_sentinel", "a master, 2 replicas and 3 Sentinels (quorum 2, down-after 1000 ms, failover "
               "timeout 3000 ms), the Sentinels agreed", "redis", SentinelRedis,
               ("REDIS_SENTINELS", "REDIS_SENTINEL_PORT", "REDIS_MASTER_NAME", "REDIS_SENTINEL_MASTER",
                "REDIS_SENTINEL_REPLICAS"), SENTINEL_PORT, "REDIS_SENTINELS",
               "FLUSHALL on the master, the Sentinels agreed again (the master may have moved)",
               SentinelOptions(replicas=2),
               # lua-resty-redis-connector's layout: three Sentinels (and one with ACL users), two replicas
               # (its master: the Redis port, adapter.MASTER_OF)
               (*(LocalPort(f"TEST_NGINX_SENTINEL_PORT{i + 1}", "REDIS_SENTINELS", i) for i in range(3)),
                LocalPort("TEST_NGINX_SENTINEL_PORT_AUTH", "REDIS_SENTINELS", 0, alias=True),
                *(LocalPort(f"TEST_NGINX_REDIS_PORT_SL{i + 1}", "REDIS_SENTINEL_REPLICAS", i) for i in range(2)))),
    ServiceDef("redis_cluster", "a Redis Cluster: 3 masters with 1 replica each (node timeout 1000 ms), "
               "cluster_state:ok", "redis", RedisCluster, ("REDIS_CLUSTER_NODES",), REDIS_PORT,
               "REDIS_CLUSTER_NODES", "FLUSHALL on every master, cluster_state:ok again", ClusterOptions()),
)}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)


def definition(key: str) -> ServiceDef:
    """The definition of the service ``key`` names (``name`` or ``name{options}``); unknown: ValueError."""
    name = key.partition("{")[0]
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r} (services: {', '.join(SERVICE_NAMES)})")
    return SERVICES[name]


def declare(name: str, given: Optional[Mapping[str, Any]] = None) -> str:
    """The key of service ``name`` declared with options ``given`` (over the service's own defaults):
    ``name`` when they change nothing, else ``name{...}`` (its own service in the session)."""
    base = definition(name).options
    return key_of(name, type(base).parse(given, base=base))


def key_of(name: str, options: ServiceOptions) -> str:
    """``name``, or ``name{changed options as JSON}``: the same options give the same key."""
    changed = options.changed(definition(name).options)
    return name if not changed else name + json.dumps(changed, sort_keys=True, separators=(",", ":"))


def options_of(key: str) -> ServiceOptions:
    """The options a key declares (the service's defaults under those it names)."""
    base = definition(key).options
    _, brace, rest = key.partition("{")
    return type(base).parse(json.loads(brace + rest) if brace else {}, base=base)


def name_of(key: str) -> str:
    """The service's name in ``key`` (``redis_sentinel{...}`` -> ``redis_sentinel``)."""
    return key.partition("{")[0]


def checked(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` (keys) sorted, once each; an unknown one is a ValueError naming the known ones, bad
    options a HarnessError naming the options there are."""
    out = tuple(sorted(set(names)))
    for key in out:
        options_of(key)
    return out


def named_in(text: str) -> tuple[str, ...]:
    """The services whose variables ``text`` names as ``${NAME}`` placeholders (a ``.t`` config)."""
    placeholders = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    return tuple(d.name for d in SERVICES.values() if placeholders & set(d.env))


def route_to(name: str, service: Service) -> dict[str, tuple[int, str, int]]:
    """The fault proxy route to ``service``: ``{name: (listen port, its address, its port)}``."""
    port = SERVICES[name].port
    return {name: (port, service.ip, port)}


def env_through(name: str, proxy_ip: str) -> dict[str, str]:
    """The environment that sends OpenResty's traffic to service ``name`` through a proxy at ``proxy_ip``."""
    return {SERVICES[name].host_env: proxy_ip}


class SessionServices:
    """The services of one harness session: each started on first use (by whichever thread asks first:
    lanes plan side by side), shared by every front end, stopped by :meth:`close`."""

    def __init__(self, image: Callable[[str], ResolvedImage], session: HarnessSession, reach: Callable[[], Reach],
                 start_timeout: float) -> None:
        self.image = image
        self.session = session
        self.reach = reach
        self.start_timeout = start_timeout
        self._lock = threading.RLock()
        self._running: dict[str, Service] = {}

    def use(self, name: str) -> Service:
        """Service ``name``, started now if it is not running (also when it stopped since)."""
        with self._lock:
            service = self._running.get(name)
            if service is None or not service.running():
                self._running[name] = service = self._start(name)
            return service

    def _start(self, name: str) -> Service:
        known = definition(name)
        service = known.build(self.image(known.image), self.session, self.reach(), options_of(name))
        service.with_start_timeout(self.start_timeout)
        try:
            service.start()
        except BaseException:
            service.stop_quietly()
            raise
        return service

    def env(self, names: Iterable[str]) -> dict[str, str]:
        """The addresses of services ``names`` as OpenResty's environment; those not started yet are
        started (a running one is taken as it is: no engine call on the hot path)."""
        env: dict[str, str] = {}
        for name in checked(names):
            with self._lock:
                service = self._running.get(name) or self.use(name)
            env.update(service.service_env())
        return env

    def reset(self, name: str) -> Service:
        """Service ``name`` (started if need be), made fresh for the next test."""
        service = self.use(name)
        service.reset()
        return service

    def reset_running(self) -> None:
        """Every running service made fresh (a warm server's next run finds them as a new run would)."""
        for service in self.running().values():
            service.reset()

    @contextlib.contextmanager
    def provided(self, name: str, service: Service) -> Iterator[Service]:
        """``service`` (started by the caller: a test's own topology) is service ``name`` until the
        block ends; then the session's own again (nothing is stopped)."""
        with self._lock:
            previous = self._running.get(name)
            self._running[name] = service
        try:
            yield service
        finally:
            with self._lock:
                if previous is None:
                    self._running.pop(name, None)
                else:
                    self._running[name] = previous

    def get(self, name: str) -> Optional[Service]:
        """Service ``name`` (a key) if it was started, else None (nothing is started). A bare name that
        is not running gives a running service of that name declared with options, if there is one."""
        service = self._running.get(name)
        if service is None and "{" not in name:
            service = next((s for k, s in self.running().items() if name_of(k) == name), None)
        return service

    def running(self) -> Mapping[str, Service]:
        return dict(self._running)

    def running_env(self) -> dict[str, str]:
        """The addresses of every service started so far (an app run outside the pool: preflight)."""
        env: dict[str, str] = {}
        for service in self.running().values():
            env.update(service.service_env())
        return env

    def close(self) -> None:
        with self._lock:
            for service in self._running.values():
                service.stop_quietly()
            self._running.clear()
