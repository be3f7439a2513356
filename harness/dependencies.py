"""Dependency hygiene: how many connections an OpenResty opens to each dependency, per request.

A handler that forgets ``set_keepalive`` does not leak (ngx_lua closes the cosocket when the request
ends), it churns: one new connection per request, which costs TIME_WAIT sockets, ephemeral ports and
the server's accept rate. Counters read before and after traffic tell it apart from a pooled client::

    deps = Dependencies(nginx, redis=redis, proxies=[proxy], dns=dns)
    before = deps.snapshot()
    for _ in range(100):
        client.get("/count")
    usage = deps.delta(before).usage(requests=100)
    assert usage["redis"].new_connections_per_request < 0.05      # pooled: ~0.01 (one per worker)

Sources: Redis ``INFO total_connections_received`` (less the harness's own connections) and
``CLIENT LIST`` (which of OpenResty's connections lived through); each fault proxy route's
connections accepted, HTTP request lines and bytes each way; the harness DNS server's queries.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Optional

from harness.containers.dns import DnsQuery, canonical
from harness.containers.fault_proxy import RouteCounters

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import DnsContainer, FaultProxyContainer, OpenRestyContainer, RedisContainer

# A pooled client opens a connection per worker and keeps it: far below this over a few hundred
# requests. A client without keepalive opens one per request (1.0).
DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST = 0.05


@dataclass(frozen=True)
class RedisCounters:
    """One reading of Redis: connections ever received, how many of those the harness made itself,
    and OpenResty's open connections (client id -> age in seconds)."""

    connections_received: int
    harness_connections: int
    clients: Mapping[int, int]


@dataclass(frozen=True)
class Snapshot:
    """Counters of every dependency at one moment (``taken``: epoch seconds)."""

    taken: float
    redis: Optional[RedisCounters] = None
    routes: Mapping[str, RouteCounters] = field(default_factory=dict)
    dns_queries: tuple[DnsQuery, ...] = ()  # asked after the snapshot this one was taken ``since``

    def delta(self, before: "Snapshot") -> "Delta":
        """What happened between ``before`` and this snapshot."""
        redis = None
        if self.redis is not None and before.redis is not None:
            own = self.redis.harness_connections - before.redis.harness_connections
            kept = sorted(set(self.redis.clients) & set(before.redis.clients))
            redis = RedisDelta(
                new_connections=max(0, self.redis.connections_received - before.redis.connections_received - own),
                kept=len(kept), opened_still_open=len(set(self.redis.clients) - set(before.redis.clients)),
                ages=tuple(self.redis.clients[i] for i in kept))
        routes = {name: RouteDelta(counters.accepted - before.routes[name].accepted,
                                   counters.requests - before.routes[name].requests,
                                   counters.bytes_upstream - before.routes[name].bytes_upstream,
                                   counters.bytes_downstream - before.routes[name].bytes_downstream)
                  for name, counters in self.routes.items() if name in before.routes}
        queries = tuple(q for q in self.dns_queries if before.taken < q.time)
        return Delta(self.taken - before.taken, redis, routes, queries)


@dataclass(frozen=True)
class RedisDelta:
    new_connections: int      # connections Redis received from anyone but the harness
    kept: int                 # OpenResty's connections open before and after (a pool at work)
    opened_still_open: int    # OpenResty's connections opened since, still open (pooled)
    ages: tuple[int, ...] = ()  # seconds, of the kept ones


@dataclass(frozen=True)
class RouteDelta:
    connections: int
    requests: int  # HTTP request lines through the route (0 on a Redis route)
    bytes_upstream: int
    bytes_downstream: int


@dataclass(frozen=True)
class Usage:
    """New connections per request to one dependency, and how often a connection was reused.

    ``uses``: what the connections served (HTTP requests through a proxy route, else the requests
    sent to OpenResty); ``pool_reuse`` = 1 - new connections / uses."""

    dependency: str
    requests: int
    new_connections: int
    uses: int
    threshold: float = DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST

    @property
    def new_connections_per_request(self) -> float:
        return self.new_connections / self.requests if self.requests else 0.0

    @property
    def pool_reuse(self) -> float:
        return max(0.0, 1.0 - self.new_connections / self.uses) if self.uses else 1.0

    @property
    def churning(self) -> bool:
        return self.new_connections_per_request > self.threshold

    def __str__(self) -> str:
        word = "CHURN" if self.churning else "ok"
        return (f"{self.dependency}: {self.new_connections} new connections over {self.requests} requests = "
                f"{self.new_connections_per_request:.3f} per request (threshold {self.threshold:g}), "
                f"pool reuse {self.pool_reuse:.0%} {word}")


@dataclass(frozen=True)
class Delta:
    """Between two snapshots: Redis's new connections, each route's traffic, the DNS queries."""

    seconds: float
    redis: Optional[RedisDelta] = None
    routes: Mapping[str, RouteDelta] = field(default_factory=dict)
    dns_queries: tuple[DnsQuery, ...] = ()

    def queries(self, name: Optional[str] = None, type: Optional[str] = None) -> list[DnsQuery]:
        """DNS queries in between, for ``name`` (any spelling) and ``type`` if given."""
        wanted = None if name is None else canonical(name)
        return [q for q in self.dns_queries if (wanted is None or q.name == wanted)
                and (type is None or q.type == type)]

    def usage(self, requests: int, thresholds: Optional[Mapping[str, float]] = None) -> dict[str, Usage]:
        """Per dependency ("redis", "proxy.<route>"): new connections per request of ``requests``
        sent to OpenResty, against ``thresholds`` (default 0.05 each)."""
        limits = thresholds or {}
        out: dict[str, Usage] = {}
        if self.redis is not None:
            out["redis"] = Usage("redis", requests, self.redis.new_connections, requests,
                                 limits.get("redis", DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST))
        for name, route in self.routes.items():
            key = f"proxy.{name}"
            out[key] = Usage(key, requests, route.connections, route.requests or requests,
                             limits.get(key, DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST))
        return out

    def format(self) -> str:
        lines = []
        if self.redis is not None:
            r = self.redis
            lines.append(f"redis: {r.new_connections} new connections; {r.kept} of OpenResty's kept open"
                         f"{' (ages ' + ', '.join(f'{a}s' for a in r.ages) + ')' if r.ages else ''}, "
                         f"{r.opened_still_open} opened and still open")
        for name, route in self.routes.items():
            lines.append(f"proxy.{name}: {route.connections} connections, {route.requests} HTTP requests, "
                         f"{route.bytes_upstream} B up, {route.bytes_downstream} B down")
        names: dict[tuple[str, str], list[str]] = {}
        for q in self.dns_queries:
            names.setdefault((q.name, q.type), []).append(q.answer)
        lines += [f"dns {name} {qtype}: {len(answers)} queries, answers {', '.join(sorted(set(answers)))}"
                  for (name, qtype), answers in names.items()]
        return "\n".join(lines) or "no dependency watched"


class Dependencies:
    """Reads the counters of an OpenResty's dependencies: the Redis it talks to (directly), the fault
    proxies in its paths, the DNS server. Give only those it uses; each read costs one API call."""

    def __init__(self, nginx: Optional["OpenRestyContainer"] = None, *, redis: Optional["RedisContainer"] = None,
                 proxies: Iterable["FaultProxyContainer"] = (), dns: Optional["DnsContainer"] = None) -> None:
        self.nginx = nginx
        self.redis = redis
        self.proxies = list(proxies)
        self.dns = dns

    def snapshot(self, since: Optional[Snapshot] = None) -> Snapshot:
        """Read every counter now; with ``since``, also the DNS queries asked after it was taken."""
        taken = self.dns.now() if self.dns is not None else time.time()  # the clock that stamps queries
        routes: dict[str, RouteCounters] = {}
        for proxy in self.proxies:
            routes.update(proxy.counters())
        queries: tuple[DnsQuery, ...] = ()
        if self.dns is not None and since is not None:
            queries = tuple(self.dns.queries(after=since.taken))
        return Snapshot(taken, self._redis(), routes, queries)

    def delta(self, before: Snapshot) -> Delta:
        """A snapshot now, less ``before``."""
        return self.snapshot(since=before).delta(before)

    def _redis(self) -> Optional[RedisCounters]:
        if self.redis is None:
            return None
        observe = self.redis.observe
        own = self.redis.harness_connections()
        received = int(observe.info("total_connections_received")["total_connections_received"])
        address = self.nginx.ip if self.nginx is not None else None
        clients = {int(c["id"]): int(c["age"]) for c in observe.clients()
                   if address is None or c["addr"].rsplit(":", 1)[0] == address}
        return RedisCounters(received, own, clients)
