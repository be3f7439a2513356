"""Failover faults of a Redis topology, each a context manager that makes the topology whole again
(one master, every replica in sync, the Sentinels agreed) before it returns.

``SentinelFault``: kill or pause (SIGSTOP) the master, partition it from some peers, a lagging
replica, ``CLIENT PAUSE``, ``SENTINEL FAILOVER``. ``ClusterFault``: ``CLUSTER FAILOVER`` and a slot
migration in progress (``ASK``). Each records when it struck (``struck_at``, ``time.monotonic()``
once the fault is in place: a write acknowledged before it may not have been replicated, one
acknowledged after it did not come from a healthy master), the start of the verdict's timeline.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Iterator, Literal, Optional, Sequence

from harness.containers.redis import REDIS_PORT
from harness.containers.redis_node import redis_command
from harness.engine import shares_files_with_host
from harness.errors import HarnessError
from harness.topologies.events import Switch
from harness.waiting import wait_for

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers.base import HarnessContainer
    from harness.containers.redis_node import RedisNode
    from harness.topologies import RedisCluster, SentinelRedis

PauseMode = Literal["all", "write"]


def netns_iptables(container: "HarnessContainer", rules: Sequence[list[str]]) -> None:
    """Run ``iptables`` rules in the container's network namespace, from the host (``nsenter``), so
    the container needs no NET_ADMIN. Possible where the engine runs on this host and we are root."""
    pid = (container.state() or {}).get("Pid") or 0
    nsenter, iptables = shutil.which("nsenter"), shutil.which("iptables")
    if not (pid and nsenter and iptables and os.geteuid() == 0
            and shares_files_with_host(container.get_docker_client().client)):
        raise HarnessError(f"a partition of {container.name} needs iptables and nsenter as root on the engine's host "
                           "(a local Linux engine): run the test there")
    for rule in rules:
        done = subprocess.run([nsenter, "-t", str(pid), "-n", iptables, "-w", *rule], capture_output=True,
                              text=True, timeout=10)
        if done.returncode != 0:
            raise HarnessError(f"iptables {' '.join(rule)} in {container.name} failed: {done.stderr.strip()}")


def _drop_rules(action: str, peers: Sequence[str]) -> list[list[str]]:
    rules: list[list[str]] = []
    for ip in peers:
        rules += [[action, "INPUT", "-s", ip, "-j", "DROP"], [action, "OUTPUT", "-d", ip, "-j", "DROP"]]
    return rules


class SentinelFault:
    """Faults of a :class:`~harness.topologies.SentinelRedis` (most also suit a master without Sentinel)."""

    def __init__(self, topology: "SentinelRedis", timeout: float = 30.0) -> None:
        self.topology = topology
        self.timeout = timeout
        self.struck_at: Optional[float] = None

    def _struck(self) -> None:
        self.struck_at = time.monotonic()

    def promoted(self, old: "RedisNode") -> "RedisNode":
        """Wait until the Sentinels agree on a master other than ``old``; return it."""
        def other() -> Optional["RedisNode"]:
            addresses = {s.master_address() for s in self.topology.sentinels}
            return self.topology.find(addresses.pop()) if len(addresses) == 1 and old.address not in addresses else None
        return wait_for(other, timeout=self.timeout, what=f"the Sentinels to promote a replica of {old.address}",
                        on_timeout=self.topology.describe)

    def rejoin(self, old: "RedisNode") -> None:
        """Make ``old`` a replica of the master the Sentinels name (what Sentinel would do at its next
        look, up to 10 s later) and wait until the topology is whole again."""
        def named() -> Optional["RedisNode"]:
            addresses = {s.master_address() for s in self.topology.sentinels}
            return self.topology.find(addresses.pop()) if len(addresses) == 1 else None
        master = wait_for(named, timeout=self.timeout, what="the Sentinels to name one master of the topology",
                          on_timeout=self.topology.describe)
        if master is not old:
            old.replicate(master)
        self.topology.wait_agreed(self.timeout)

    # ---- the master goes away ---------------------------------------------------------------
    @contextlib.contextmanager
    def killed_master(self) -> Iterator["RedisNode"]:
        """SIGKILL the master's container (its data is gone: no persistence). On exit it starts
        again, empty, and rejoins as a replica of the promoted one."""
        old = self.topology.master()
        old.get_wrapped_container().kill()
        self._struck()
        try:
            yield old
        finally:
            address = old.address
            old.get_wrapped_container().start()
            old.follow_address()
            wait_for(lambda: old.client().ping(), timeout=self.timeout, what=f"{old.name} to answer again")
            old.announce()
            if old.address != address:  # a new address: the Sentinels forget the old one
                for sentinel in self.topology.sentinels:
                    sentinel.client().sentinel_reset(self.topology.master_name)
            self.rejoin(old)

    @contextlib.contextmanager
    def paused_master(self) -> Iterator["RedisNode"]:
        """SIGSTOP the master (through the engine: redis-server is PID 1): connections hang. On exit
        SIGCONT; the old master wakes up still believing it is the master until it is made a replica."""
        old = self.topology.master()
        container = old.get_wrapped_container()
        container.kill(signal="SIGSTOP")
        self._struck()
        try:
            yield old
        finally:
            container.kill(signal="SIGCONT")
            self.rejoin(old)

    @contextlib.contextmanager
    def partitioned_master(self, from_: Sequence["HarnessContainer"] = ()) -> Iterator["RedisNode"]:
        """Drop every packet between the master and ``from_`` (default: the Sentinels), both ways,
        with iptables in the master's network namespace (see :func:`netns_iptables`)."""
        old = self.topology.master()
        peers = [c.ip for c in (from_ or self.topology.sentinels)]
        netns_iptables(old, _drop_rules("-I", peers))
        self._struck()
        try:
            yield old
        finally:
            netns_iptables(old, _drop_rules("-D", peers))
            self.rejoin(old)

    # ---- replication and clients ------------------------------------------------------------
    @contextlib.contextmanager
    def lagging_replica(self, replica: Optional["RedisNode"] = None) -> Iterator["RedisNode"]:
        """The replication stream stops reaching a replica (its packets from and to the master are
        dropped) while it keeps answering reads: it serves stale data and its offset falls behind.
        On exit the stream resumes and the replica catches up."""
        master = self.topology.master()
        lagging = replica or self.topology.replicas_of(master)[0]
        netns_iptables(lagging, _drop_rules("-I", [master.ip]))
        self._struck()
        try:
            yield lagging
        finally:
            netns_iptables(lagging, _drop_rules("-D", [master.ip]))
            self.topology.wait_agreed(self.timeout)

    @contextlib.contextmanager
    def client_paused(self, mode: PauseMode = "all", node: Optional["RedisNode"] = None,
                      ms: int = 60000) -> Iterator["RedisNode"]:
        """``CLIENT PAUSE ms ALL|WRITE`` on the master (or ``node``): clients' commands (writes only,
        with ``write``) wait; replication goes on. ``CLIENT UNPAUSE`` on exit."""
        target = node or self.topology.master()
        redis_command(target.client(), "CLIENT", "PAUSE", str(ms), mode.upper())
        self._struck()
        try:
            yield target
        finally:
            redis_command(target.client(), "CLIENT", "UNPAUSE")

    def failover(self) -> tuple["RedisNode", "RedisNode"]:
        """``SENTINEL FAILOVER`` now (no agreement needed); wait until it is done. Returns (old, new)."""
        old = self.topology.master()
        self._struck()
        self.topology.sentinels[0].client().sentinel_failover(self.topology.master_name)
        new = self.promoted(old)
        self.rejoin(old)  # Sentinel would reconfigure it only at its next look (INFO every 10 s)
        return old, new


class ClusterFault:
    """Faults of a :class:`~harness.topologies.RedisCluster`."""

    def __init__(self, cluster: "RedisCluster", timeout: float = 30.0) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self.struck_at: Optional[float] = None
        self.switch: Optional[Switch] = None  # the last failover(): when the replica was seen as master
        self.candidates: list["RedisNode"] = []  # the paused master's replicas

    def failover(self, master: Optional["RedisNode"] = None) -> tuple["RedisNode", "RedisNode"]:
        """``CLUSTER FAILOVER`` on a replica of ``master`` (default: the first master): a coordinated
        switch, no write lost. Returns (old master, new master) once the cluster is ok again."""
        old = master or self.cluster.masters_now()[0]
        replicas = self.cluster.replicas_of(old)
        if not replicas:
            raise HarnessError(f"{old.address} has no replica to fail over to: start the cluster with replicas=1 or more")
        new = replicas[0]
        self.struck_at = time.monotonic()
        redis_command(new.client(), "CLUSTER", "FAILOVER")
        wait_for(lambda: new.role() == "master", timeout=self.timeout,
                 what=f"{new.address} to take over from {old.address}", on_timeout=self.cluster.describe)
        self.switch = Switch(time.monotonic(), old.address, new.address)
        self.cluster.wait_settled(self.timeout)
        return old, new

    @contextlib.contextmanager
    def paused_master(self, master: Optional["RedisNode"] = None) -> Iterator["RedisNode"]:
        """SIGSTOP a master (default: the first): after ``cluster-node-timeout`` the others mark it
        failed and one of its replicas is elected (see :meth:`promoted`). On exit SIGCONT: the old
        master learns the newer configuration and becomes a replica by itself."""
        old = master or self.cluster.masters_now()[0]
        self.candidates = self.cluster.replicas_of(old)  # asked now: the paused node answers nothing
        if not self.candidates:
            raise HarnessError(f"{old.address} has no replica to take over: start the cluster with replicas=1 or more")
        container = old.get_wrapped_container()
        container.kill(signal="SIGSTOP")
        self.struck_at = time.monotonic()
        try:
            yield old
        finally:
            container.kill(signal="SIGCONT")
            wait_for(lambda: old.role() == "replica", timeout=self.timeout,
                     what=f"{old.address} to rejoin as a replica", on_timeout=self.cluster.describe)
            self.cluster.wait_settled(self.timeout)

    def promoted(self, old: "RedisNode") -> "RedisNode":
        """Wait until one of ``old``'s replicas (as they were when the fault struck) is a master;
        records the switch and returns it."""
        def elected() -> Optional["RedisNode"]:
            return next((n for n in self.candidates if n.role() == "master"), None)
        new = wait_for(elected, timeout=self.timeout, what=f"a replica of {old.address} to be elected",
                       on_timeout=lambda: "\n".join(s.line() for s in self.cluster.states()))
        self.switch = Switch(time.monotonic(), old.address, new.address)
        return new

    @contextlib.contextmanager
    def migrating(self, slot: int, to: Optional["RedisNode"] = None,
                  keys: Sequence[str] = ()) -> Iterator["RedisNode"]:
        """A slot migration in progress: ``slot`` is MIGRATING on its owner and IMPORTING on ``to``
        (default: another master), and ``keys`` (of that slot) are already moved, so a request for
        them at the owner answers ``-ASK slot ip:port``. On exit the keys move back and both nodes
        mark the slot stable: the owner is unchanged."""
        source = self.cluster.owner(slot)
        target = to or next(m for m in self.cluster.masters_now() if m is not source)
        source_id, target_id = self.cluster.node_id(source), self.cluster.node_id(target)
        self.struck_at = time.monotonic()
        redis_command(target.client(), "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        redis_command(source.client(), "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        try:
            for key in keys:
                redis_command(source.client(), "MIGRATE", target.ip, REDIS_PORT, key, 0, 5000)
            yield target
        finally:
            # the owner first (it then takes the keys back without redirecting), then the keys
            # (ASKING on the same connection: the slot is not the target's), then the target
            redis_command(source.client(), "CLUSTER", "SETSLOT", slot, "STABLE")
            for key in keys:
                back = target.client().pipeline(transaction=False)
                redis_command(back, "ASKING")
                redis_command(back, "MIGRATE", source.ip, REDIS_PORT, key, 0, 5000)
                back.execute(raise_on_error=True)
            redis_command(target.client(), "CLUSTER", "SETSLOT", slot, "STABLE")
            self.cluster.wait_settled(self.timeout)
