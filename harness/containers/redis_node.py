"""The members of a Redis topology: :class:`RedisNode` (a ``redis-server`` that will be a master, a
replica or a cluster node) and :class:`SentinelContainer` (``redis-server --sentinel``).

Both run as the image's ``redis`` user with no capability, like :class:`RedisContainer`. A node has
no network alias (a topology's members are told apart by address, which is what Sentinel and
Cluster hand to clients). Each announces its address on the internal network (``announce()``), so
clients on that network can follow what Sentinel and Cluster tell them, in either reach mode.
"""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, Literal, Union

from harness.containers.base import HarnessContainer, Reach
from harness.containers.redis import REDIS_PORT, RedisContainer, host_client
from harness.images.profiles import redis_profile
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession
from harness.waiting import wait_for

if TYPE_CHECKING:
    import redis as redis_py  # imported where a client is made: the package costs a tenth of a second

SENTINEL_PORT = 26379
Role = Literal["master", "replica"]


def redis_command(client: Union[redis_py.Redis, "redis_py.client.Pipeline"], *args: Any) -> Any:
    """``client.execute_command(*args)`` (redis-py leaves it untyped)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


class RedisNode(RedisContainer):
    """A ``redis-server`` of a topology: ``with_args("--cluster-enabled", "yes")`` adds server options."""

    kind = "redis-node"
    alias = ""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach) -> None:
        super().__init__(image, session, reach)
        self.extra_args: list[str] = []
        # a full resync writes the RDB file in the working directory: one the redis user may write
        # (no 5 s wait for more replicas before a diskless full sync: they attach one by one here)
        self.with_args("--dir", "/tmp", "--repl-diskless-sync-delay", "0")

    def with_args(self, *args: str) -> "RedisNode":
        """More ``redis-server`` options (``"--cluster-enabled", "yes"``)."""
        self.extra_args = [*self.extra_args, *args]
        self.with_command([*self.profile.server_command(), *self.extra_args])
        return self

    @property
    def address(self) -> str:
        """``ip:port`` on the internal network (what Sentinel and Cluster tell clients)."""
        return f"{self.ip}:{REDIS_PORT}"

    def announce(self, *, cluster: bool = False) -> None:
        """Announce the internal address to the master (as a replica) and, in a cluster, to the
        other nodes (``replica-announce-ip``, ``cluster-announce-ip``)."""
        self.client().config_set("replica-announce-ip", self.ip)
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
            redis_command(self.client(), "REPLICAOF", master.ip, str(REDIS_PORT))


class SentinelContainer(HarnessContainer):
    """``redis-server sentinel.conf --sentinel`` (Debian's ``redis-sentinel`` package only adds a
    symlink and a unit file: the server binary is Sentinel). It watches nothing until :meth:`monitor`,
    so it can start beside the nodes it will watch."""

    kind = "redis-sentinel"
    user = "redis"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, master_name: str) -> None:
        super().__init__(image, session, reach, (SENTINEL_PORT,))
        self.master_name = master_name
        server = redis_profile(image.labels).server_bin
        conf = f"port {SENTINEL_PORT}\nbind 0.0.0.0\nprotected-mode no\ndir /tmp\n"
        # Sentinel rewrites its configuration file: it must be the redis user's, so it is written
        # inside the container rather than copied in (copies belong to root)
        self.with_command(["sh", "-c", f"printf '%s' {shlex.quote(conf)} > /tmp/sentinel.conf && "
                                       f"exec {server} /tmp/sentinel.conf --sentinel"])
        self._client: redis_py.Redis | None = None

    def start(self) -> "SentinelContainer":
        super().start()
        wait_for(lambda: self.client().ping(), timeout=self.start_timeout, what=f"{self.name} to answer PING",
                 on_timeout=self.logs_text)
        redis_command(self.client(), "SENTINEL", "CONFIG", "SET", "announce-ip", self.ip)
        return self

    def monitor(self, master: RedisNode, *, quorum: int, down_after_ms: int, failover_timeout_ms: int) -> None:
        """``SENTINEL MONITOR`` the master, with these timings (``parallel-syncs 1``)."""
        c = self.client()
        c.sentinel_monitor(self.master_name, master.ip, REDIS_PORT, quorum)
        c.sentinel_set(self.master_name, "down-after-milliseconds", down_after_ms)
        c.sentinel_set(self.master_name, "failover-timeout", failover_timeout_ms)
        c.sentinel_set(self.master_name, "parallel-syncs", 1)

    def client(self) -> redis_py.Redis:
        """A redis-py client to this Sentinel from the host (decoded strings, short timeouts)."""
        if self._client is None:
            self._client = host_client(self, SENTINEL_PORT)
        return self._client

    @property
    def address(self) -> str:
        return f"{self.ip}:{SENTINEL_PORT}"

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
