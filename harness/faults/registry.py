"""Every fault, defined once: its name, its parameters, what it needs, and how it is applied and
undone (a context manager; an instant fault, such as a kill, has nothing to undo).

One vocabulary for every front end: ``with fault("proxy.latency", proxy=redis_proxy, ms=300)`` in
pytest, ``fault: {kind: proxy.latency, ms: 300}`` in a scenario step, ``harness t --harness-fault
proxy.latency:ms=300`` for a whole run of ``.t`` blocks. docs/faults.md's table is generated from
:data:`FAULTS` (``harness faults``). A new fault is one :class:`FaultKind` here plus its test.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError
from harness.faults.failover import ClusterFault, SentinelFault
from harness.faults.process import WorkerFault
from harness.faults.redis import RedisFault

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import DnsContainer, FaultProxyContainer, OpenRestyContainer, ProxyRoute, RedisContainer
    from harness.topologies import RedisCluster, SentinelRedis

Need = Literal["redis", "proxy", "dns", "nginx", "redis_sentinel", "redis_cluster"]
NEEDS: dict[Need, str] = {
    "redis": "the session's Redis: the redis fixture; YAML services: [redis]",
    "proxy": "a fault proxy route: redis (the redis_proxy fixture; YAML services: [redis_proxy]) or upstream "
             "(YAML upstream: FIXTURE)",
    "dns": "the harness's DNS server: the dns fixture; YAML services: [dns]",
    "nginx": "the OpenResty container under test",
    "redis_sentinel": "a Sentinel topology: the redis_sentinel fixture; YAML services: [redis_sentinel]",
    "redis_cluster": "a Redis Cluster: the redis_cluster fixture; YAML services: [redis_cluster]",
}
Route = Literal["redis", "upstream"]  # the paths through the fault proxy


class FaultParams(BaseModel):
    """Every parameter a fault may take (each fault reads the ones its row names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ms: Optional[float] = Field(None, ge=0, description="redis.slow, proxy.latency: milliseconds")
    jitter: float = Field(0, ge=0, description="proxy.latency: jitter in ms")
    rate: Optional[float] = Field(None, gt=0, description="proxy.bandwidth: KB/s")
    bytes: Optional[int] = Field(None, ge=0, description="proxy.limit_data: bytes before the close")
    stream: Literal["upstream", "downstream"] = Field("downstream", description="proxy toxics: direction")
    route: Route = Field("redis", description="proxy.*: the path through the fault proxy")
    host: str = Field("*", description="dns.*: the name whose answer changes (*: every name without an answer "
                                       "of its own)")
    address: Optional[str] = Field(None, description="dns.address: the (wrong) address to answer")
    signal: Optional[str] = Field(None, description="worker.kill (default KILL), master.signal: HUP, QUIT, TERM, USR1")
    mode: Optional[Literal["all", "write"]] = Field(None, description="sentinel.client_paused: the commands that "
                                                                      "wait (all, the default, or write)")
    key: Optional[str] = Field(None, description="cluster.migrating: the key moved ahead of its slot")


@dataclass
class Targets:
    """What faults act on: the OpenResty under test, the session's services, a fault proxy."""

    nginx: Optional["OpenRestyContainer"] = None
    redis: Optional["RedisContainer"] = None
    proxy: Optional["FaultProxyContainer"] = None
    dns: Optional["DnsContainer"] = None
    sentinel: Optional["SentinelRedis"] = None
    cluster: Optional["RedisCluster"] = None


@contextlib.contextmanager
def instant(action: Callable[[], object]) -> Iterator[None]:
    """A fault that happens once (a kill, a signal): nothing to undo."""
    action()
    yield


@dataclass(frozen=True)
class FaultKind:
    """One fault: ``apply(target, params)`` is the context manager that holds it."""

    name: str
    doc: str
    needs: Need
    apply: Callable[[Any, FaultParams], ContextManager[object]]
    params: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    instant: bool = False

    @property
    def for_a_run(self) -> bool:
        """Whether ``harness t --harness-fault`` can hold it for a whole run: a lasting fault of a
        session service or of the proxy in front of Redis (a worker's or a one-off is per test)."""
        return not self.instant and self.needs != "nginx"

    def hold(self, targets: Targets, params: FaultParams) -> ContextManager[object]:
        """The context manager holding this fault on ``targets`` (entered: applied; exited: undone)."""
        target = self.target(targets, params)
        if target is None:
            raise HarnessError(f"fault {self.name} needs {NEEDS[self.needs]}")
        return self.apply(target, params)

    def target(self, targets: Targets, params: FaultParams) -> Optional[object]:
        if self.needs == "redis":
            return RedisFault(targets.redis) if targets.redis is not None else None
        if self.needs == "proxy":
            return targets.proxy.route(params.route) if targets.proxy is not None else None
        if self.needs == "nginx":
            return WorkerFault(targets.nginx) if targets.nginx is not None else None
        if self.needs == "redis_sentinel":
            return SentinelFault(targets.sentinel) if targets.sentinel is not None else None
        if self.needs == "redis_cluster":
            return ClusterFault(targets.cluster) if targets.cluster is not None else None
        return targets.dns


def _redis(name: str, doc: str, apply: Callable[[RedisFault, FaultParams], ContextManager[object]],
           params: tuple[str, ...] = (), required: tuple[str, ...] = (), instant: bool = False) -> FaultKind:
    return FaultKind(f"redis.{name}", doc, "redis", apply, params, required, instant)


def _proxy(name: str, doc: str, apply: Callable[["ProxyRoute", FaultParams], ContextManager[object]],
           params: tuple[str, ...] = (), required: tuple[str, ...] = (), instant: bool = False) -> FaultKind:
    return FaultKind(f"proxy.{name}", doc, "proxy", apply, ("route", *params), required, instant)


def _dns(name: str, doc: str, answer: Callable[[FaultParams], dict[str, Any]],
         params: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> FaultKind:
    def apply(dns: "DnsContainer", p: FaultParams) -> ContextManager[object]:
        return dns.answering(p.host, **answer(p))
    return FaultKind(f"dns.{name}", doc, "dns", apply, ("host", *params), required)


def _nginx(name: str, doc: str, apply: Callable[[WorkerFault, FaultParams], ContextManager[object]],
           params: tuple[str, ...] = (), required: tuple[str, ...] = (), instant: bool = False) -> FaultKind:
    return FaultKind(name, doc, "nginx", apply, params, required, instant)


def _sentinel(name: str, doc: str, apply: Callable[[SentinelFault, FaultParams], ContextManager[object]],
              params: tuple[str, ...] = (), instant: bool = False) -> FaultKind:
    return FaultKind(f"sentinel.{name}", doc, "redis_sentinel", apply, params, (), instant)


def _cluster(name: str, doc: str, apply: Callable[[ClusterFault, FaultParams], ContextManager[object]],
             params: tuple[str, ...] = (), required: tuple[str, ...] = (), instant: bool = False) -> FaultKind:
    return FaultKind(f"cluster.{name}", doc, "redis_cluster", apply, params, required, instant)


@contextlib.contextmanager
def _migrating(fault: ClusterFault, key: str) -> Iterator[object]:
    with fault.migrating(fault.cluster.slot(key), keys=[key]) as target:
        yield target


FAULTS: dict[str, FaultKind] = {f.name: f for f in (
    _redis("stopped", "`docker stop`; started again after, usually at a new address", lambda r, p: r.stopped()),
    _redis("killed", "`docker kill`; started again after", lambda r, p: r.killed()),
    _redis("paused", "`docker pause`: connections accepted, never answered (timeouts)", lambda r, p: r.paused()),
    _redis("refusing", "the server moves to a spare port and drops its clients: connects are refused",
           lambda r, p: r.refusing()),
    _redis("slow", "every command waits until `ms` after the start (CLIENT PAUSE)",
           lambda r, p: r.slow(int(p.ms or 0)), ("ms",), ("ms",)),
    _redis("drop_connections", "every client connection closed once (pooled ones break on next use)",
           lambda r, p: instant(r.drop_connections), instant=True),
    _redis("restart", "`docker restart`, waited for", lambda r, p: instant(r.restart), instant=True),
    _proxy("down", "the route refuses connections and closes the open ones", lambda r, p: r.down()),
    _proxy("latency", "every chunk delayed `ms` (± `jitter`)",
           lambda r, p: r.latency(p.ms or 0, p.jitter, p.stream), ("ms", "jitter", "stream"), ("ms",)),
    _proxy("bandwidth", "at most `rate` KB/s", lambda r, p: r.bandwidth(p.rate or 0, p.stream), ("rate", "stream"),
           ("rate",)),
    _proxy("blackhole", "data stops, the connection stays open", lambda r, p: r.blackhole(stream=p.stream),
           ("stream",)),
    _proxy("reset_peer", "connections reset (RST)", lambda r, p: r.reset_peer(stream=p.stream), ("stream",)),
    _proxy("limit_data", "the connection closes after `bytes`", lambda r, p: r.limit_data(p.bytes or 0, p.stream),
           ("bytes", "stream"), ("bytes",)),
    _proxy("slicer", "data cut in small pieces (64 ± 16 bytes, 1 ms apart)",
           lambda r, p: r.slicer(64, 16, 1000, p.stream), ("stream",)),
    _proxy("drop_connections", "the route's open connections closed once (the route stays up)",
           lambda r, p: instant(r.drop_connections), instant=True),
    _dns("nxdomain", "`host` answered NXDOMAIN (nginx: 3: Host not found)", lambda p: {"rcode": "NXDOMAIN"}),
    _dns("servfail", "`host` answered SERVFAIL (nginx: 2: Server failure)", lambda p: {"rcode": "SERVFAIL"}),
    _dns("timeout", "no answer for `host` (nginx: 110: Operation timed out)", lambda p: {"timeout": True}),
    _dns("address", "`host` answered with `address`", lambda p: {"a": p.address}, ("address",), ("address",)),
    _nginx("worker.kill", "a worker killed with `signal` (default KILL); the master respawns it",
           lambda w, p: instant(lambda: w.kill_worker(signal=p.signal or "KILL")), ("signal",), instant=True),
    _nginx("worker.stop", "a worker stopped (SIGSTOP) until the fault ends", lambda w, p: w.stopped_worker()),
    _nginx("worker.zombie", "a real `<defunct>` worker (master stopped, worker killed) until the fault ends",
           lambda w, p: w.zombie()),
    _nginx("master.signal", "`signal` (HUP, QUIT, TERM, USR1...) to the master",
           lambda w, p: instant(lambda: w.signal_master(p.signal or "HUP")), ("signal",), ("signal",), instant=True),
    _sentinel("master_killed", "the master's container killed; Sentinel promotes a replica; after, it starts "
              "again empty and rejoins as a replica", lambda f, p: f.killed_master()),
    _sentinel("master_paused", "the master stopped (SIGSTOP) until the fault ends: connections hang, Sentinel "
              "promotes a replica; after, SIGCONT and it rejoins as a replica", lambda f, p: f.paused_master()),
    _sentinel("master_partitioned", "every packet between the master and the Sentinels dropped (iptables in its "
              "namespace; root on the engine's host): they promote a replica while clients may still write to "
              "it (lost writes)", lambda f, p: f.partitioned_master()),
    _sentinel("replica_lagging", "a replica's replication stream dropped: it answers reads with stale data, its "
              "offset behind; it catches up after", lambda f, p: f.lagging_replica()),
    _sentinel("client_paused", "`CLIENT PAUSE` (`mode` all or write) on the master; `CLIENT UNPAUSE` after",
              lambda f, p: f.client_paused(p.mode or "all"), ("mode",)),
    _sentinel("failover", "`SENTINEL FAILOVER` now: a replica promoted, the old master its replica",
              lambda f, p: instant(f.failover), instant=True),
    _cluster("failover", "`CLUSTER FAILOVER` on a replica of the first master (coordinated, nothing lost)",
             lambda f, p: instant(f.failover), instant=True),
    _cluster("master_paused", "the first master stopped (SIGSTOP): after the node timeout its replica is "
             "elected; after, SIGCONT and it rejoins as a replica", lambda f, p: f.paused_master()),
    _cluster("migrating", "the slot of `key` migrating to another master, `key` already moved: the owner "
             "answers `ASK` for it; after, moved back and the slot stable",
             lambda f, p: _migrating(f, p.key or ""), ("key",), ("key",)),
)}
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)
SPELLING = "NAME or NAME:PARAM=VALUE,... (e.g. proxy.latency:ms=300, redis.refusing, dns.servfail)"


class FaultSpec(FaultParams):
    """A fault and its parameters, checked against :data:`FAULTS`. In YAML also a string (its name)."""

    kind: str = Field(description="what breaks: a fault of docs/faults.md's table")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> "FaultSpec":
        fault = FAULTS.get(self.kind)
        if fault is None:
            raise ValueError(f"unknown fault {self.kind!r} (faults: {', '.join(FAULT_NAMES)})")
        for name in fault.required:
            if getattr(self, name) is None:
                raise ValueError(f"fault {self.kind} needs '{name}'")
        return self

    @property
    def fault(self) -> FaultKind:
        return FAULTS[self.kind]

    def hold(self, targets: Targets) -> ContextManager[object]:
        """Applied on entry, undone on exit (see :meth:`FaultKind.hold`)."""
        return self.fault.hold(targets, self)

    @classmethod
    def parse(cls, text: str) -> Optional["FaultSpec"]:
        """``NAME`` or ``NAME:PARAM=VALUE,...`` (the command line's form); empty: None."""
        text = text.strip()
        if not text:
            return None
        kind, _, rest = text.partition(":")
        params: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise HarnessError(f"fault {text!r}: {item!r} is not PARAM=VALUE; give {SPELLING}")
            params[key.strip()] = value.strip()
        try:
            return cls.model_validate({"kind": kind.strip(), **params})
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise HarnessError(f"fault {text!r}: {problems}; give {SPELLING}") from None


def hold(spec: FaultSpec, services: Callable[[str], Any], nginx: Optional["OpenRestyContainer"] = None,
         proxy: Optional["FaultProxyContainer"] = None) -> ContextManager[object]:
    """``spec`` held on ``nginx``, ``proxy`` or the session service it needs (``services(name)``
    gives it: ``stage.services.use``)."""
    need = spec.fault.needs
    targets = Targets(nginx=nginx, proxy=proxy, redis=services("redis") if need == "redis" else None,
                      dns=services("dns") if need == "dns" else None,
                      sentinel=services(need) if need == "redis_sentinel" else None,
                      cluster=services(need) if need == "redis_cluster" else None)
    return spec.hold(targets)


def fault_markdown() -> str:
    """The fault table as Markdown (docs/faults.md), from :data:`FAULTS`."""
    docs = {name: field.description or "" for name, field in FaultParams.model_fields.items()}
    rows = ["| fault | what breaks | parameters | needs | undone | `harness t` |", "|---|---|---|---|---|---|"]
    for f in FAULTS.values():
        params = ", ".join(f"`{p}`" + (" (required)" if p in f.required else "") for p in f.params)
        undone = "nothing to undo (happens once)" if f.instant else "at the end"
        rows.append(f"| `{f.name}` | {f.doc} | {params} | {f.needs} | {undone} | {'yes' if f.for_a_run else ''} |")
    rows += ["", "| needs | given by |", "|---|---|"]
    rows += [f"| {need} | {text} |" for need, text in NEEDS.items()]
    rows += ["", "| parameter | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {doc} |" for name, doc in docs.items()]
    return "\n".join(rows) + "\n"
