"""What Sentinel says while it works: every event it publishes (``+sdown``, ``+odown``,
``+switch-master``...), with the time it arrived, from a subscription on one Sentinel."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from harness.waiting import wait_for

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers.redis_node import SentinelContainer


@dataclass(frozen=True)
class SentinelEvent:
    at: float        # time.monotonic() when it arrived
    channel: str     # "+switch-master", "+odown", ...
    data: str        # Sentinel's text: "master mymaster 172.18.0.2 6379 ..."


@dataclass(frozen=True)
class Switch:
    """A ``+switch-master``: the master ``old`` was replaced by ``new`` (``ip:port``) at ``at``."""

    at: float
    old: str
    new: str


class EventLog:
    """Sentinel events as they arrived (thread-safe): what happened, and when."""

    def __init__(self) -> None:
        self.events: list[SentinelEvent] = []
        self._lock = threading.Lock()

    def record(self, channel: str, data: str, at: Optional[float] = None) -> None:
        with self._lock:
            self.events.append(SentinelEvent(time.monotonic() if at is None else at, channel, data))

    def seen(self, channel: str) -> list[SentinelEvent]:
        with self._lock:
            return [e for e in self.events if e.channel == channel]

    def first(self, channel: str, after: float = 0.0) -> Optional[SentinelEvent]:
        return next((e for e in self.seen(channel) if e.at >= after), None)

    def switches(self) -> list[Switch]:
        """Every ``+switch-master`` so far (``<name> <old-ip> <old-port> <new-ip> <new-port>``)."""
        out = []
        for e in self.seen("+switch-master"):
            _, old_ip, old_port, new_ip, new_port = e.data.split()[:5]
            out.append(Switch(e.at, f"{old_ip}:{old_port}", f"{new_ip}:{new_port}"))
        return out

    def promotions(self) -> list[Switch]:
        """Every promotion so far, in time order: ``+switch-master`` (each Sentinel, once it takes the
        new configuration) and ``+promoted-slave`` (the leader, as soon as the replica reports it is the
        master: a forced ``SENTINEL FAILOVER`` publishes its ``+switch-master`` only once every replica
        is reconfigured)."""
        out = self.switches()
        for e in self.seen("+promoted-slave"):
            # slave <ip:port> <ip> <port> @ <master-name> <master-ip> <master-port>
            parts = e.data.split()
            if len(parts) >= 8 and parts[4] == "@":
                out.append(Switch(e.at, f"{parts[6]}:{parts[7]}", f"{parts[2]}:{parts[3]}"))
        return sorted(out, key=lambda s: s.at)

    def text(self) -> str:
        with self._lock:
            if not self.events:
                return "(no Sentinel event)"
            t0 = self.events[0].at
            return "\n".join(f"+{e.at - t0:7.3f}s {e.channel} {e.data}" for e in self.events)


class SentinelEvents(EventLog):
    """``with SentinelEvents(sentinel) as events: ...``: records what the Sentinel publishes."""

    def __init__(self, sentinel: "SentinelContainer") -> None:
        super().__init__()
        self.sentinel = sentinel
        self._pubsub = sentinel.client().pubsub(ignore_subscribe_messages=True)
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "SentinelEvents":
        self._pubsub.psubscribe(**{"*": self._on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.stop()  # type: ignore[attr-defined]  # redis-py's PubSubWorkerThread
            self._thread.join(timeout=5)
        self._pubsub.close()

    def _on_message(self, message: dict[str, Any]) -> None:
        self.record(str(message["channel"]), str(message["data"]))

    def wait_switch(self, timeout: float, after: float = 0.0) -> Switch:
        """Wait for a ``+switch-master`` that arrived after ``after``."""
        return wait_for(lambda: next((s for s in self.switches() if s.at >= after), None), timeout=timeout,
                        what=f"+switch-master from {self.sentinel.name}", on_timeout=self.text)
