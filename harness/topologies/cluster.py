"""``RedisCluster``: a Redis Cluster of M masters with R replicas each, made by ``redis-cli --cluster
create`` (the maintained tool, run inside the first node), ready when every node reports
``cluster_state:ok`` and knows every other node, and every replica's link is up."""
from __future__ import annotations

from typing import Optional

import redis as redis_py

from harness.containers.base import HarnessContainer, Reach
from harness.containers.redis import REDIS_PORT
from harness.containers.redis_node import RedisNode, redis_command
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.service_options import ClusterOptions
from harness.session import HarnessSession
from harness.topologies.group import ContainerGroup, NodeState
from harness.waiting import wait_for

SLOTS = 16384


class RedisCluster(ContainerGroup):
    """``RedisCluster(image, session, reach, ClusterOptions(masters=3, replicas=1)).start()``."""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 options: ClusterOptions = ClusterOptions(), start_timeout: float = 30.0) -> None:
        masters, replicas = options.masters, options.replicas
        self.masters, self.replicas = masters, replicas
        self.node_timeout_ms = node_timeout_ms = options.node_timeout_ms
        self.start_timeout = start_timeout
        self.nodes = [RedisNode(image, session, reach).with_start_timeout(start_timeout).with_args(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms)) for _ in range(masters * (replicas + 1))]
        self._client: Optional[redis_py.RedisCluster] = None

    def wire(self) -> None:
        for node in self.nodes:
            node.announce(cluster=True)
        addresses = " ".join(n.address for n in self.nodes)
        code, out = self.nodes[0].sh(f"redis-cli --cluster create {addresses} "
                                     f"--cluster-replicas {self.replicas} --cluster-yes")
        if code != 0:
            raise HarnessError(f"redis-cli --cluster create failed ({code})", out)
        self.wait_settled()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop()

    def containers(self) -> list[HarnessContainer]:
        return list(self.nodes)

    def reset(self) -> None:
        """Empty every master (``FLUSHALL``, replicated) and wait until the cluster is ok."""
        for master in self.masters_now():
            master.client().flushall()
        self.wait_settled()

    @property
    def ip(self) -> str:
        """The first seed node's address."""
        return self.nodes[0].ip

    # ---- what it is now ------------------------------------------------------------------------
    def ok(self) -> bool:
        """Every node: ``cluster_state:ok``, every slot assigned, every node known; replicas linked."""
        total = len(self.nodes)
        for node in self.nodes:
            info = node.cluster_info()
            if (info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != SLOTS
                    or int(info.get("cluster_known_nodes", 0)) != total):
                return False
        return all(s.link == "up" for s in self.states() if s.role == "replica")

    def wait_settled(self, timeout: Optional[float] = None) -> None:
        wait_for(self.ok, timeout=timeout or self.start_timeout, what="cluster_state:ok on every node",
                 on_timeout=self.describe)

    def node(self, address: str) -> RedisNode:
        match = next((n for n in self.nodes if n.address == address), None)
        if match is None:
            raise HarnessError(f"no cluster node at {address}: {[n.address for n in self.nodes]}")
        return match

    def node_id(self, node: RedisNode) -> str:
        return str(redis_command(node.client(), "CLUSTER", "MYID"))

    def owner(self, slot: int) -> RedisNode:
        """The master serving ``slot`` now (``CLUSTER SLOTS`` as the first node sees it)."""
        for start, end, master, *_ in redis_command(self.nodes[0].client(), "CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return self.node(f"{master[0]}:{master[1]}")
        raise HarnessError(f"slot {slot} is served by no node:\n{self.describe()}")

    def slot(self, key: str) -> int:
        return int(redis_command(self.nodes[0].client(), "CLUSTER", "KEYSLOT", key))

    def masters_now(self) -> list[RedisNode]:
        return [self.node(s.address) for s in self.states() if s.role == "master"]

    def replicas_of(self, master: RedisNode) -> list[RedisNode]:
        return [self.node(s.address) for s in self.states() if s.role == "replica" and s.master == master.address]

    def states(self) -> list[NodeState]:
        return [NodeState.of(n) for n in self.nodes]

    def describe(self) -> str:
        lines = [s.line() for s in self.states()]
        try:
            lines.append(str(redis_command(self.nodes[0].client(), "CLUSTER", "NODES")))
        except Exception as exc:  # noqa: BLE001
            lines.append(f"CLUSTER NODES: {type(exc).__name__}: {exc}")
        return "\n".join(lines)

    def client(self) -> redis_py.RedisCluster:
        """A redis-py cluster client from the host (it follows MOVED/ASK; ``direct`` reach only:
        the addresses the cluster announces are on the internal network)."""
        if self._client is None:
            host, port = self.nodes[0].endpoint(REDIS_PORT)
            self._client = redis_py.RedisCluster(host=host, port=port, decode_responses=True,
                                                 socket_timeout=2, socket_connect_timeout=2)
        return self._client

    def service_env(self) -> dict[str, str]:
        """``REDIS_CLUSTER_NODES``: every node, ``ip:port,...`` (the seeds a client starts from)."""
        return {"REDIS_CLUSTER_NODES": ",".join(n.address for n in self.nodes)}
