"""``ReplicatedRedis``: one master and N replicas (``REPLICAOF``), ready when replication is in sync."""
from __future__ import annotations

from typing import Optional

from harness.containers.base import HarnessContainer, Reach
from harness.containers.redis import REDIS_PORT
from harness.containers.redis_node import NamespaceHolder, RedisNode
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.service_options import ReplicatedOptions
from harness.session import HarnessSession
from harness.topologies.group import ContainerGroup, NodeState
from harness.waiting import wait_for


class ReplicatedRedis(ContainerGroup):
    """``ReplicatedRedis(image, session, reach, ReplicatedOptions(replicas=2)).start()``: ``nodes[0]``
    starts as the master; :meth:`master` says which node is the master now (a failover changes it).
    With ``options.layout`` every member listens on its layout port in one network namespace."""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 options: ReplicatedOptions = ReplicatedOptions(), start_timeout: float = 30.0) -> None:
        self.image, self.session, self.reach = image, session, reach
        self.options = options
        self.replicas = options.replicas
        self.start_timeout = start_timeout
        layout = options.layout
        self.netns = NamespaceHolder(image, session, reach, layout.ports) if layout is not None else None
        ports = layout.nodes if layout is not None else (REDIS_PORT,) * (options.replicas + 1)
        self.nodes = [RedisNode(image, session, reach, options.users, port, self.netns)
                      .with_start_timeout(start_timeout) for port in ports]

    def holders(self) -> list[HarnessContainer]:
        return [self.netns] if self.netns is not None else []

    # ---- life ----------------------------------------------------------------------------------
    def wire(self) -> None:
        self.configure()
        self.wait_settled()

    def configure(self) -> None:
        """Announce addresses, make ``nodes[1:]`` replicas of ``nodes[0]``."""
        for node in self.nodes:
            node.announce()
        for node in self.nodes[1:]:
            node.replicate(self.nodes[0])

    def wait_settled(self, timeout: Optional[float] = None) -> RedisNode:
        """Wait until one master has every other node as an online replica at its offset; return it."""
        return wait_for(self.in_sync, timeout=timeout or self.start_timeout, what="replication in sync",
                        on_timeout=self.describe)

    def containers(self) -> list[HarnessContainer]:
        return [*self.holders(), *self.nodes]

    def reset(self) -> None:
        """Empty the data (``FLUSHALL`` on the master, replicated) and wait until all is in sync."""
        self.master().client().flushall()
        self.wait_settled()

    @property
    def ip(self) -> str:
        """The master's address now."""
        return self.master().ip

    # ---- what it is now ------------------------------------------------------------------------
    def master(self) -> RedisNode:
        """The node that is master now (the only one; else HarnessError)."""
        masters = [s for s in self.states() if s.role == "master"]
        if len(masters) != 1:
            raise HarnessError(f"expected one master, found {len(masters)}:\n{self.describe()}")
        return self.node(masters[0].address)

    def find(self, address: str) -> Optional[RedisNode]:
        """The node at ``ip:port`` (as Sentinel names it), if there is one."""
        return next((n for n in self.nodes if n.address == address), None)

    def node(self, address: str) -> RedisNode:
        """The node at ``ip:port`` (else HarnessError)."""
        match = self.find(address)
        if match is None:
            raise HarnessError(f"no node at {address}: {[n.address for n in self.nodes]}")
        return match

    def replicas_of(self, master: RedisNode) -> list[RedisNode]:
        return [n for n in self.nodes if n is not master]

    def in_sync(self) -> Optional[RedisNode]:
        """The master, if every other node is its online replica with the master's offset."""
        states = self.states()
        masters = [s for s in states if s.role == "master"]
        if len(masters) != 1:
            return None
        master = masters[0]
        info = self.node(master.address).client().info("replication")
        online = [info[k] for k in info if k.startswith("slave") and isinstance(info[k], dict)]
        offsets = {f"{s['ip']}:{s['port']}": int(s["offset"]) for s in online if s.get("state") == "online"}
        for s in states:
            if s is master:
                continue
            if s.role != "replica" or s.link != "up" or s.master != master.address:
                return None
            if offsets.get(s.address) != int(info["master_repl_offset"]):
                return None
        return self.node(master.address)

    def states(self) -> list[NodeState]:
        """Every node's role, offset, link and client count, now."""
        return [NodeState.of(n) for n in self.nodes]

    def connections_from(self, ip: str) -> dict[str, int]:
        """How many connections ``ip`` (an app's container) holds to each node now (``CLIENT LIST``;
        a node that does not answer counts 0)."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            try:
                counts[node.address] = node.observe.clients_by_address()[ip]
            except Exception:  # noqa: BLE001 - down or paused
                counts[node.address] = 0
        return counts

    def describe(self) -> str:
        return "\n".join(s.line() for s in self.states())

    def service_env(self) -> dict[str, str]:
        """``REDIS_MASTER_HOST``/``REDIS_MASTER_PORT``: the master now; ``REDIS_REPLICAS``: the others,
        ``ip:port,...`` (names of their own: the session's single Redis keeps ``REDIS_HOST``)."""
        master = self.master()
        return {"REDIS_MASTER_HOST": master.ip, "REDIS_MASTER_PORT": str(master.port),
                "REDIS_REPLICAS": ",".join(n.reachable for n in self.replicas_of(master))}
