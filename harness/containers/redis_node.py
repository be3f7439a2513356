"""The members of a Redis topology: :class:`RedisNode` (a ``redis-server`` that will be a master, a
replica or a cluster node) and :class:`SentinelContainer` (``redis-server --sentinel``).

Both run as the image's ``redis`` user with no capability, like :class:`RedisContainer`. A node has
no network alias (a topology's members are told apart by address, which is what Sentinel and
Cluster hand to clients). Each announces its address on the internal network (``announce()``), so
clients on that network can follow what Sentinel and Cluster tell them, in either reach mode.

In a local layout (:class:`~harness.service_options.LocalLayout`) the members share the network
namespace of a :class:`NamespaceHolder`, each on its own port, and their address is ``127.0.0.1:PORT``
(``peer_host``): true for every member, and for OpenResty through its companion's forwards.
"""
from __future__ import annotations

import shlex
from typing import Any, Literal, Optional, Union

import redis as redis_py

from harness.containers.base import HarnessContainer, Reach
from harness.containers.base import LOOPBACK
from harness.containers.redis import REDIS_PORT, RedisContainer, host_client
from harness.images.profiles import redis_profile
from harness.images.resolver import ResolvedImage
from harness.service_options import RedisOptions, Users
from harness.session import HarnessSession
from harness.waiting import wait_for

SENTINEL_PORT = 26379
Role = Literal["master", "replica"]


def redis_command(client: Union[redis_py.Redis, "redis_py.client.Pipeline"], *args: Any) -> Any:
    """``client.execute_command(*args)`` (redis-py leaves it untyped)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


class NamespaceHolder(HarnessContainer):
    """The network namespace of a local layout: a container that only sleeps (from the Redis image),
    on the session network, publishing every member's port in ``published`` reach. The members join
    it (``netns_owner``), so it starts first and stops last."""

    kind = "redis-netns"
    user = "redis"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, ports: tuple[int, ...]) -> None:
        super().__init__(image, session, reach, ports)
        self.with_command(["sleep", "infinity"])


class Member(HarnessContainer):
    """A topology member's addresses (a node's or a Sentinel's), from its ``port`` and whether it lives
    in a local layout's namespace (``netns_owner``)."""

    port: int

    @property
    def peer_host(self) -> str:
        """The host the other members (and clients told by Sentinel) use, and a Sentinel announces:
        127.0.0.1 in a local layout, else its address."""
        return LOOPBACK if self.netns_owner is not None else self.ip

    @property
    def address(self) -> str:
        """``host:port`` as the topology's members see it (what Sentinel and Cluster tell clients)."""
        return f"{self.peer_host}:{self.port}"

    @property
    def reachable(self) -> str:
        """``ip:port`` on the session network (a local layout's: the namespace's address)."""
        return f"{self.ip}:{self.port}"


class RedisNode(RedisContainer, Member):
    """A ``redis-server`` of a topology: ``with_args("--cluster-enabled", "yes")`` adds server options;
    ``port`` and ``netns``: its own port in a local layout's namespace."""

    kind = "redis-node"
    alias = ""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, users: Users = (),
                 port: int = REDIS_PORT, netns: Optional[NamespaceHolder] = None) -> None:
        if netns is not None:
            self.netns_owner = netns
        super().__init__(image, session, reach, RedisOptions(users=users))
        self.port = port
        # a full resync writes the RDB file in the working directory: one the redis user may write
        # (no 5 s wait for more replicas before a diskless full sync: they attach one by one here)
        self.with_args("--dir", "/tmp", "--repl-diskless-sync-delay", "0")
        if port != REDIS_PORT:
            self.with_args("--port", str(port))

    def announce(self, *, cluster: bool = False) -> None:
        """Announce the address to the master (as a replica) and, in a cluster, to the
        other nodes (``replica-announce-ip``, ``cluster-announce-ip``)."""
        self.client().config_set("replica-announce-ip", self.peer_host)
        if cluster:
            self.client().config_set("cluster-announce-ip", self.ip)

    def cluster_info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a dict of strings."""
        text = redis_command(self.client(), "CLUSTER", "INFO")
        if isinstance(text, dict):
            return {str(k): str(v) for k, v in text.items()}
        return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)

    def role(self) -> Role:
        return "master" if self.client().info("replication")["role"] == "master" else "replica"

    def replicate(self, master: "RedisNode | None") -> None:
        """``REPLICAOF master`` (``None``: ``REPLICAOF NO ONE``)."""
        if master is None:
            redis_command(self.client(), "REPLICAOF", "NO", "ONE")
        else:
            redis_command(self.client(), "REPLICAOF", master.peer_host, str(master.port))


class SentinelContainer(Member):
    """``redis-server sentinel.conf --sentinel`` (Debian's ``redis-sentinel`` package only adds a
    symlink and a unit file: the server binary is Sentinel). It watches nothing until :meth:`monitor`,
    so it can start beside the nodes it will watch."""

    kind = "redis-sentinel"
    user = "redis"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, master_name: str,
                 users: Users = (), port: int = SENTINEL_PORT, netns: Optional[NamespaceHolder] = None) -> None:
        if netns is not None:
            self.netns_owner = netns
        super().__init__(image, session, reach, (port,))
        self.master_name = master_name
        self.port = port
        server = redis_profile(image.labels).server_bin
        acl = "".join(f"user {name} on >{password} ~* &* +@all\n" for name, password in users)
        conf = f"port {port}\nbind 0.0.0.0\nprotected-mode no\ndir /tmp\n{acl}"
        # Sentinel rewrites its configuration file: it must be the redis user's, so it is written
        # inside the container rather than copied in (copies belong to root)
        self.with_command(["sh", "-c", f"printf '%s' {shlex.quote(conf)} > /tmp/sentinel.conf && "
                                       f"exec {server} /tmp/sentinel.conf --sentinel"])
        self._client: redis_py.Redis | None = None

    def start(self) -> "SentinelContainer":
        super().start()
        wait_for(lambda: self.client().ping(), timeout=self.start_timeout, what=f"{self.name} to answer PING",
                 on_timeout=self.logs_text)
        redis_command(self.client(), "SENTINEL", "CONFIG", "SET", "announce-ip", self.peer_host)
        return self

    def monitor(self, master: RedisNode, *, quorum: int, down_after_ms: int, failover_timeout_ms: int) -> None:
        """``SENTINEL MONITOR`` the master, with these timings (``parallel-syncs 1``)."""
        c = self.client()
        c.sentinel_monitor(self.master_name, master.peer_host, master.port, quorum)
        c.sentinel_set(self.master_name, "down-after-milliseconds", down_after_ms)
        c.sentinel_set(self.master_name, "failover-timeout", failover_timeout_ms)
        c.sentinel_set(self.master_name, "parallel-syncs", 1)

    def client(self) -> redis_py.Redis:
        """A redis-py client to this Sentinel from the host (decoded strings, short timeouts)."""
        if self._client is None:
            self._client = host_client(self, self.port)
        return self._client

    def master_address(self) -> str:
        """``ip:port`` of the master this Sentinel names now (``SENTINEL get-master-addr-by-name``);
        empty if it watches none of that name."""
        reply = self.client().sentinel_get_master_addr_by_name(self.master_name)
        if not isinstance(reply, (tuple, list)):
            return ""
        host, port = (str(part) for part in reply)
        return f"{host}:{port}"

    def master_state(self) -> dict[str, Any]:
        """``SENTINEL MASTER name`` as redis-py parses it (``is_odown``, ``num-slaves``, ``num-other-sentinels``...)."""
        state = self.client().sentinel_master(self.master_name)
        if not isinstance(state, dict):  # not a HarnessError: wait_for probes take this as "not yet"
            raise LookupError(f"{self.name} knows no master {self.master_name!r}")
        return state

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._client is not None:
            self._client.close()
        super().stop(force, delete_volume)
