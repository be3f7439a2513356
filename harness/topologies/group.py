"""A group of containers started side by side and stopped together, and what a node reports."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence, TypeVar

from harness.containers.base import HarnessContainer
from harness.containers.redis_node import RedisNode

C = TypeVar("C", bound=HarnessContainer)
G = TypeVar("G", bound="ContainerGroup")


def start_side_by_side(containers: Sequence[C]) -> float:
    """Start every container at once (each ready by its own check); return the seconds it took.
    If one fails, all are stopped and the first error is raised."""
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        futures = [pool.submit(c.start) for c in containers]
        errors = [f.exception() for f in futures]
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        stop_all(containers)
        raise failed
    return time.monotonic() - began


def stop_all(containers: Sequence[HarnessContainer]) -> None:
    """Remove every container (side by side; already gone is no error)."""
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        list(pool.map(lambda c: c.stop_quietly(), containers))


class ContainerGroup:
    """Containers that make one service together: started side by side, stopped together. Meets the
    session's service protocol (``ip``, ``with_start_timeout``, ``start``, ``stop_quietly``,
    ``running``, ``service_env``, ``reset``), so a topology can be declared like one Redis."""

    start_timeout = 30.0
    started_in = 0.0  # seconds from the first container start to ready (start())

    def containers(self) -> list[HarnessContainer]:
        """Every container of the group."""
        raise NotImplementedError

    def holders(self) -> list[HarnessContainer]:
        """Those of :meth:`containers` the others join (a local layout's network namespace): started
        first, stopped last."""
        return []

    def members(self) -> list[HarnessContainer]:
        """:meth:`containers` but the holders."""
        holders = self.holders()
        return [c for c in self.containers() if c not in holders]

    def describe(self) -> str:
        """Every member's state, one line each."""
        raise NotImplementedError

    def wire(self) -> None:
        """Once every container runs: make them one service, and wait until it is ready."""
        raise NotImplementedError

    @property
    def ip(self) -> str:
        """The address a single client would start from (the master now, a seed node)."""
        raise NotImplementedError

    def service_env(self) -> dict[str, str]:
        """What OpenResty gets to find it (docs/redis-topologies.md)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Made fresh for the next test: data emptied, the topology whole and ready."""
        raise NotImplementedError

    def start(self: G) -> G:
        """Start every container side by side, then :meth:`wire`; on failure nothing is left."""
        began = time.monotonic()
        start_side_by_side(self.holders())
        try:
            start_side_by_side(self.members())
            self.wire()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def with_start_timeout(self: G, seconds: float) -> G:
        self.start_timeout = seconds
        for container in self.containers():
            container.with_start_timeout(seconds)
        return self

    def running(self) -> bool:
        """Every container still running (a fault may have stopped one: then the group is not)."""
        try:
            return all(c.state().get("Running") for c in self.containers())
        except Exception:  # noqa: BLE001 - never created, or removed
            return False

    def stop(self) -> None:
        stop_all(self.members())
        stop_all(self.holders())

    def stop_quietly(self) -> None:
        self.stop()


@dataclass(frozen=True)
class NodeState:
    """What one node says about itself (``INFO replication`` / ``INFO clients``), or ``down``."""

    name: str
    address: str
    role: str            # "master", "replica", or "down" (no answer)
    offset: int          # master_repl_offset (a replica: how far it has processed the stream)
    link: str            # a replica's master_link_status ("up"/"down"); "" for a master
    master: str          # a replica's master "ip:port"; "" for a master
    clients: int         # connected_clients (the harness's own connection included)

    @classmethod
    def of(cls, node: RedisNode) -> "NodeState":
        try:
            info = node.client().info()
        except Exception:  # noqa: BLE001 - a stopped or killed node answers nothing
            return cls(node.name, node.address, "down", -1, "", "", 0)
        replica = info.get("role") == "slave"
        return cls(node.name, node.address, "replica" if replica else "master",
                   int(info.get("master_repl_offset", 0)),
                   str(info.get("master_link_status", "")) if replica else "",
                   f"{info.get('master_host')}:{info.get('master_port')}" if replica else "",
                   int(info.get("connected_clients", 0)))

    def line(self) -> str:
        follows = f" of {self.master} (link {self.link})" if self.role == "replica" else ""
        return f"{self.name} {self.address}: {self.role}{follows}, offset {self.offset}, {self.clients} clients"
