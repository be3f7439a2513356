"""RawHttpUser: a locust user with a lean HTTP/1.1 keep-alive client (GET only).

Locust's FastHttpUser spends most of its time in its own client code; on a small machine the load
generator, not OpenResty, sets the pace. This client writes a prepared request on a connection of
:mod:`harness.load.http1` (all of a process's connections on one epoll, responses parsed by
httptools) and reports to locust's ``request`` event like any user, so recorders and locust's
statistics see every request. Imported only inside locust processes (it imports locust).
"""
from __future__ import annotations

import time
from typing import Any, Optional
from urllib.parse import urlsplit

from locust import User
from locust.exception import LocustError

from harness.load.http1 import Connection, HttpStatusError, ProtocolError


class RawHttpClient:
    """``get(path_or_url)`` over keep-alive connections (one per host), reporting to locust."""

    def __init__(self, base_url: str, request_event: Any, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.request_event = request_event
        self.timeout = timeout
        self._connections: dict[tuple[str, int], Connection] = {}
        self._requests: dict[str, tuple[tuple[str, int], bytes]] = {}

    def _prepare(self, url: str) -> tuple[tuple[str, int], bytes]:
        parts = urlsplit(url if "://" in url else self.base_url + url)
        if parts.scheme != "http" or not parts.hostname:
            raise LocustError(f"RawHttpClient speaks plain http to a host: {url!r}")
        address = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: harness-raw\r\n\r\n".encode()
        return address, request

    def get(self, url: str, name: Optional[str] = None) -> int:
        """GET ``url`` (a path on the base URL, or an absolute http URL); return the status (0: no answer)."""
        prepared = self._requests.get(url)
        if prepared is None:
            prepared = self._requests[url] = self._prepare(url)
        address, request = prepared
        started = time.perf_counter()
        status, length = 0, 0
        exception: Optional[Exception] = None
        connection = self._connections.get(address)
        try:
            if connection is None or connection.closed:  # closed while idle (keepalive_timeout, a reload)
                connection = self._connections[address] = Connection(*address, self.timeout)
            status, length, _keep_alive = connection.exchange(request)  # closed already when not kept alive
            if status >= 400:
                exception = HttpStatusError(status)
        except (OSError, ProtocolError, ValueError) as exc:
            exception = exc
            if connection is not None:
                connection.close()
        self.request_event.fire(request_type="GET", name=name or url, response_length=length,
                                response_time=(time.perf_counter() - started) * 1000, exception=exception,
                                context={"status": status}, url=url, response=None)
        return status

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


class RawHttpUser(User):
    """Base class: ``self.client.get(path)``; set ``wait_time`` as for any locust user (none: no wait)."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if self.host is None:
            raise LocustError("RawHttpUser needs a host (--host or the class attribute)")
        self.client = RawHttpClient(self.host, environment.events.request)

    def on_stop(self) -> None:
        self.client.close()
