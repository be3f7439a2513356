"""``SentinelRedis``: a replicated Redis watched by Sentinels, ready when every Sentinel names the
same master, knows every replica and every other Sentinel, and ``SENTINEL CKQUORUM`` says OK."""
from __future__ import annotations

from typing import Optional

from harness.containers.base import HarnessContainer, Reach
from harness.containers.redis_node import SENTINEL_PORT, RedisNode, SentinelContainer
from harness.images.resolver import ResolvedImage
from harness.service_options import MASTER_NAME, SentinelOptions
from harness.session import HarnessSession
from harness.topologies.replicated import ReplicatedRedis
from harness.waiting import wait_for

__all__ = ["MASTER_NAME", "SentinelRedis"]


class SentinelRedis(ReplicatedRedis):
    """``SentinelRedis(image, session, reach, SentinelOptions(replicas=1, sentinels=3, quorum=2)).start()``.

    Nodes and Sentinels start side by side; then replication, then ``SENTINEL MONITOR`` on each.
    ``failover_timeout_ms`` is short (production's default is 3 minutes): when the Sentinels' leader
    election fails (split votes, a loaded machine), the next attempt comes after twice that."""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 options: SentinelOptions = SentinelOptions(), start_timeout: float = 30.0) -> None:
        super().__init__(image, session, reach, options, start_timeout)
        self.quorum, self.down_after_ms = options.quorum, options.down_after_ms
        self.failover_timeout_ms = options.failover_timeout_ms
        self.master_name = options.master_name
        ports = options.layout.sentinels if options.layout is not None else (SENTINEL_PORT,) * options.sentinels
        self.sentinels = [SentinelContainer(image, session, reach, self.master_name, options.sentinel_users, port,
                                            self.netns).with_start_timeout(start_timeout) for port in ports]

    def wire(self) -> None:
        self.configure()
        master = self.wait_settled()
        for sentinel in self.sentinels:
            sentinel.monitor(master, quorum=self.quorum, down_after_ms=self.down_after_ms,
                             failover_timeout_ms=self.failover_timeout_ms)
        self.wait_agreed()

    def containers(self) -> list[HarnessContainer]:
        return [*self.holders(), *self.nodes, *self.sentinels]

    def reset(self) -> None:
        """Empty the data and wait until the Sentinels agree again (a failover may have moved the master)."""
        self.master().client().flushall()
        self.wait_agreed()

    def agreed(self) -> Optional[RedisNode]:
        """The master, if every Sentinel names it, knows the other nodes as replicas and the other
        Sentinels, and the quorum is reachable (``SENTINEL CKQUORUM``); else None."""
        addresses = {s.master_address() for s in self.sentinels}
        if len(addresses) != 1:
            return None
        master = self.find(addresses.pop())
        if master is None or master.role() != "master":
            return None
        for sentinel in self.sentinels:
            state = sentinel.master_state()
            if (int(state.get("num-slaves", 0)) != len(self.nodes) - 1
                    or int(state.get("num-other-sentinels", 0)) != len(self.sentinels) - 1
                    or state.get("is_odown") or state.get("is_sdown")):
                return None
            sentinel.client().sentinel_ckquorum(self.master_name)  # raises (not yet) while it is not OK
        return master

    def wait_agreed(self, timeout: Optional[float] = None) -> RedisNode:
        """Wait until the Sentinels agree (:meth:`agreed`) and replication is in sync."""
        def settled() -> Optional[RedisNode]:
            master = self.agreed()
            return master if master is not None and self.in_sync() is master else None
        return wait_for(settled, timeout=timeout or self.start_timeout, what="the Sentinels to agree on the master",
                        on_timeout=self.describe)

    def describe(self) -> str:
        lines = [super().describe()]
        for s in self.sentinels:
            try:
                lines.append(f"{s.name} {s.address}: master {s.master_address()}")
            except Exception as exc:  # noqa: BLE001
                lines.append(f"{s.name}: {type(exc).__name__}: {exc}")
        return "\n".join(lines)

    def service_env(self) -> dict[str, str]:
        """``REDIS_SENTINELS`` (``ip:port,...``), ``REDIS_SENTINEL_PORT``, ``REDIS_MASTER_NAME``; and, for
        clients that do not ask Sentinel (a ``.t`` file's fixed ports), ``REDIS_SENTINEL_MASTER`` (the
        master now, ``ip:port``) and ``REDIS_SENTINEL_REPLICAS`` (``ip:port,...``, in node order). A local
        layout adds ``REDIS_SENTINEL_NODES``: every node in layout order (master port first), whatever
        its role now, as Sentinel names them by port. Addresses are those on the session network."""
        master = self.master()
        env = {"REDIS_MASTER_NAME": self.master_name,
               "REDIS_SENTINELS": ",".join(s.reachable for s in self.sentinels),
               "REDIS_SENTINEL_PORT": str(self.sentinels[0].port), "REDIS_SENTINEL_MASTER": master.reachable,
               "REDIS_SENTINEL_REPLICAS": ",".join(n.reachable for n in self.replicas_of(master))}
        if self.netns is not None:
            env["REDIS_SENTINEL_NODES"] = ",".join(n.reachable for n in self.nodes)
        return env
