"""Small concurrency checks with httpx: fire N requests at once and see how many answer, stall or fail."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class BurstResult:
    statuses: list[int] = field(default_factory=list)  # of the requests that answered
    latencies_s: list[float] = field(default_factory=list)
    timed_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return len(self.statuses)

    def __str__(self) -> str:
        slowest = f", slowest {max(self.latencies_s) * 1000:.0f} ms" if self.latencies_s else ""
        return f"{self.answered} answered, {self.timed_out} timed out, errors {self.errors or 'none'}{slowest}"


def burst(url: str, n: int = 20, timeout: float = 1.0, new_connections: bool = True) -> BurstResult:
    """Send ``n`` GETs to ``url`` at the same moment, each with ``timeout``; count the outcomes.

    With ``new_connections`` every request has its own connection, so the kernel spreads them over
    the workers as it does real clients. From async code, ``await aburst(...)``.
    """
    return asyncio.run(aburst(url, n, timeout, new_connections))


async def aburst(url: str, n: int = 20, timeout: float = 1.0, new_connections: bool = True) -> BurstResult:
    """:func:`burst` for an event loop that is already running."""
    async def one(client: httpx.AsyncClient) -> tuple[str, Any]:
        started = time.perf_counter()
        try:
            response = await client.get(url, headers={"Connection": "close"} if new_connections else None)
            return "ok", (response.status_code, time.perf_counter() - started)
        except httpx.TimeoutException:
            return "timeout", None
        except httpx.HTTPError as exc:
            return "error", type(exc).__name__

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0 if new_connections else n)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        outcomes = await asyncio.gather(*(one(client) for _ in range(n)))
    statuses: list[int] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}
    timed_out = 0
    for kind, value in outcomes:
        if kind == "ok":
            statuses.append(value[0])
            latencies.append(value[1])
        elif kind == "timeout":
            timed_out += 1
        else:
            errors[value] = errors.get(value, 0) + 1
    return BurstResult(statuses, latencies, timed_out, errors)
