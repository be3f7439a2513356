"""FaultProxyContainer: a TCP proxy between two containers, with Toxiproxy's toxics (see
``harness/sidecars/fault_proxy.py``), to fault the network path OpenResty -> Redis (or any other)."""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Any, ContextManager, Iterator, Optional, TypedDict

from harness.containers.base import Reach
from harness.containers.sidecar import SidecarContainer
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession

API_PORT = 8474
_names = itertools.count(1)


class ToxicState(TypedDict):
    """A toxic as the proxy's API shows it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, float]


class RouteState(TypedDict):
    """A route as the proxy's API shows it (``GET /proxies``: one per name)."""

    name: str
    listen: str
    enabled: bool
    upstream: str
    connections: int
    accepted: int
    requests: int
    bytes_upstream: int
    bytes_downstream: int
    toxics: list[ToxicState]


@dataclass(frozen=True)
class RouteCounters:
    """A route's counters since the proxy started (they never go back; subtract two readings)."""

    accepted: int          # connections the clients opened
    requests: int          # HTTP/1.x request lines the clients sent (0 on non-HTTP routes)
    bytes_upstream: int    # client -> server
    bytes_downstream: int  # server -> client
    open: int              # connections open now

    @classmethod
    def from_state(cls, state: RouteState) -> "RouteCounters":
        return cls(int(state["accepted"]), int(state["requests"]), int(state["bytes_upstream"]),
                   int(state["bytes_downstream"]), int(state["connections"]))


class ProxyRoute:
    """One proxied route: toxics and down, each a context manager that removes itself."""

    def __init__(self, container: "FaultProxyContainer", name: str) -> None:
        self.container = container
        self.name = name

    def _call(self, method: str, path: str, body: Optional[dict[str, object]] = None) -> Any:
        r = self.container.api.request(method, f"/proxies/{self.name}{path}", json=body)
        if r.status_code != 200:
            raise HarnessError(f"fault proxy {self.container.name}: {method} {path} -> {r.status_code} {r.text}")
        return r.json()

    def state(self) -> RouteState:
        states: dict[str, RouteState] = self.container.api.get("/proxies").json()
        return states[self.name]

    def counters(self) -> RouteCounters:
        """Connections accepted, request lines and bytes each way, since the proxy started."""
        return RouteCounters.from_state(self.state())

    @contextlib.contextmanager
    def toxic(self, type: str, stream: str = "downstream", toxicity: float = 1.0,
              **attributes: float) -> Iterator[ToxicState]:
        """Add a toxic for the block: ``with route.toxic("latency", latency=300, jitter=50): ...``."""
        name = f"{type}_{stream}_{next(_names)}"
        toxic: ToxicState = self._call("POST", "/toxics", {"name": name, "type": type, "stream": stream,
                                               "toxicity": toxicity, "attributes": attributes})
        try:
            yield toxic
        finally:
            self._call("DELETE", f"/toxics/{name}")

    def latency(self, ms: float, jitter: float = 0, stream: str = "downstream") -> ContextManager[ToxicState]:
        return self.toxic("latency", stream, latency=ms, jitter=jitter)

    def bandwidth(self, kb_per_second: float, stream: str = "downstream") -> ContextManager[ToxicState]:
        return self.toxic("bandwidth", stream, rate=kb_per_second)

    def blackhole(self, close_after_ms: float = 0, stream: str = "downstream") -> ContextManager[ToxicState]:
        """Toxiproxy's ``timeout``: data stops; the connection closes after ``close_after_ms`` (0: never)."""
        return self.toxic("timeout", stream, timeout=close_after_ms)

    def reset_peer(self, after_ms: float = 0, stream: str = "downstream") -> ContextManager[ToxicState]:
        return self.toxic("reset_peer", stream, timeout=after_ms)

    def limit_data(self, nbytes: int, stream: str = "downstream") -> ContextManager[ToxicState]:
        return self.toxic("limit_data", stream, bytes=nbytes)

    def slicer(self, average_size: int, size_variation: int = 0, delay_us: int = 0, stream: str = "downstream") -> ContextManager[ToxicState]:
        return self.toxic("slicer", stream, average_size=average_size, size_variation=size_variation, delay=delay_us)

    def drop_connections(self) -> int:
        """Close every open connection of the route now (the route stays up): the clients' pooled
        connections break, so their next request connects (and resolves) again. Returns how many."""
        return int(self._call("POST", "/drop")["dropped"])

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Refuse connections (and close the open ones) for the block."""
        self._call("POST", "", {"enabled": False})
        try:
            yield
        finally:
            self._call("POST", "", {"enabled": True})


class FaultProxyContainer(SidecarContainer):
    """``FaultProxyContainer(image, session, reach, routes)``: routes are ``{name: (listen port, host, port)}``
    (``harness.services.route_to("redis", redis)`` is the one to the session's Redis)."""

    kind = "faultproxy"
    alias = "faultproxy"
    script = "fault_proxy.py"
    api_port = API_PORT
    ready_path = "/proxies"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 routes: dict[str, tuple[int, str, int]]) -> None:
        args = ["--api", str(API_PORT)]
        for name, (listen, host, port) in routes.items():
            args += ["--proxy", f"{name}={listen}:{host}:{port}"]
        super().__init__(image, session, reach, args)
        self.routes = routes

    def route(self, name: str) -> ProxyRoute:
        if name not in self.routes:
            raise HarnessError(f"{self.name} has no route {name!r}: {sorted(self.routes)}")
        return ProxyRoute(self, name)

    def counters(self) -> dict[str, RouteCounters]:
        """Every route's counters, read at once."""
        states: dict[str, RouteState] = self.api.get("/proxies").json()
        return {name: RouteCounters.from_state(state) for name, state in states.items()}

    def reset(self) -> None:
        """Every route up, every toxic gone."""
        self.api.post("/reset")
