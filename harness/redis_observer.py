"""What Redis sees: connected clients (grouped by source address) and selected INFO fields."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis as redis_py


class RedisObserver:
    """Reads a Redis server's view of its clients. The observer's own connection is left out."""

    def __init__(self, client: redis_py.Redis) -> None:
        self.client = client

    def clients(self) -> list[dict[str, Any]]:
        """CLIENT LIST entries, without this observer's own connection."""
        own = self.client.client_id()
        return [c for c in self.client.client_list() if int(c["id"]) != own]

    def connected_clients(self) -> int:
        return len(self.clients())

    def clients_by_address(self) -> Counter[str]:
        """How many connections each source IP holds (the OpenResty container's, say)."""
        return Counter(c["addr"].rsplit(":", 1)[0] for c in self.clients())

    def info(self, *fields: str) -> dict[str, Any]:
        """Selected INFO fields, e.g. ``info("connected_clients", "total_connections_received")``."""
        everything = self.client.info("everything")
        missing = [f for f in fields if f not in everything]
        if missing:
            raise KeyError(f"INFO has no field(s) {', '.join(missing)}")
        return {f: everything[f] for f in fields} if fields else everything
