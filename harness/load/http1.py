"""Lean HTTP/1.1 keep-alive GETs for gevent: every connection of a process on one epoll.

A gevent socket waits on its own libev watcher and starts a Timeout for every read; at tens of
thousands of requests a second that bookkeeping, not the kernel, sets the pace. Here the sockets are
plain non-blocking ones registered with a :class:`Reactor`: the gevent hub watches a single epoll
descriptor, and one wake-up hands every response that has arrived to the greenlet waiting for it.
Responses are parsed by httptools (llhttp, the parser of Node.js); deadlines are checked by one
periodic timer. No locust here; :mod:`harness.load.rawhttp` puts it in a locust user.
"""
from __future__ import annotations

import _socket
import select
import socket
import time
from typing import Any, Optional

import gevent
import httptools
from gevent.hub import Waiter
from gevent.monkey import get_original
from gevent.socket import create_connection, wait_write

epoll = get_original("select", "epoll")  # gevent's monkey-patching removes it from select

DEADLINE_CHECK_S = 0.1


class HttpStatusError(Exception):
    """A response with status >= 400 (reported as a failure, by status)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class ProtocolError(Exception):
    """The server closed the connection or answered something that is not HTTP/1.x."""


class Response:
    """httptools' callbacks for one connection: status, body length, keep-alive, completion."""

    __slots__ = ("parser", "status", "length", "keep_alive", "framed", "headers_done", "complete")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reset()

    def reset(self) -> None:
        self.status = self.length = 0
        self.keep_alive = self.framed = self.headers_done = self.complete = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # once the message is complete it reads False

    def on_body(self, body: bytes) -> None:
        self.length += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One keep-alive connection to host:port: a non-blocking socket and an incremental parser."""

    def __init__(self, host: str, port: int, timeout: float, reactor: Optional["Reactor"] = None) -> None:
        self.reactor = reactor or Reactor.current()
        self.timeout = timeout
        connected = create_connection((host, port), timeout=timeout)  # gevent's: waits without blocking the hub
        self.sock = _socket.socket(fileno=connected.detach())
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fd = self.sock.fileno()
        self.response = Response()
        self.waiter: Optional[Waiter[tuple[int, int, bool]]] = None
        self.deadline = 0.0
        self.closed = False
        self.reactor.add(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.reactor.remove(self)
            self.sock.close()

    def exchange(self, request: bytes) -> tuple[int, int, bool]:
        """Send ``request``; wait for the whole response; return (status, body length, keep-alive).

        Raises ProtocolError (closed, not HTTP), ``socket.timeout`` after ``timeout`` s, OSError."""
        if self.closed:
            raise ProtocolError("connection closed by the server")
        self.response.reset()
        sent = 0
        while True:
            try:
                sent += self.sock.send(request[sent:] if sent else request)
            except BlockingIOError:
                pass
            if sent >= len(request):
                break
            wait_write(self.fd, timeout=self.timeout)  # a full send buffer: rare for a GET
        self.deadline = time.monotonic() + self.timeout
        self.waiter = Waiter(self.reactor.hub)
        try:
            return self.waiter.get()
        except BaseException:
            self.close()  # a half-read response leaves the connection unusable
            raise
        finally:
            self.waiter = None

    def on_readable(self) -> None:
        """Called by the reactor in the hub: read what arrived; wake the waiting greenlet when done."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(exc)
            return
        response = self.response
        if not data:
            if response.headers_done and not response.complete and not response.framed:
                response.complete, response.keep_alive = True, False  # the body ended with the connection
            else:
                self._fail(ProtocolError("connection closed by the server"))
                return
        else:
            if self.waiter is None:  # bytes nobody asked for: the connection is out of step
                self._fail(ProtocolError(f"unexpected bytes from the server: {data[:40]!r}"))
                return
            try:
                response.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                self._fail(ProtocolError(f"not an HTTP/1.x response ({exc}): {data[:40]!r}"))
                return
        if response.complete and self.waiter is not None:
            if not response.keep_alive:
                self.close()
            self.waiter.switch((response.status, response.length, response.keep_alive))

    def _fail(self, exc: BaseException) -> None:
        waiter = self.waiter
        self.close()
        if waiter is not None:
            waiter.throw(exc)

    def expire(self, now: float) -> None:
        if self.waiter is not None and now > self.deadline:
            self._fail(socket.timeout(f"no complete response within {self.timeout:g}s"))


class Reactor:
    """The epoll of one process (one per gevent hub), watched by the hub through a single watcher."""

    _by_hub: dict[int, "Reactor"] = {}

    @classmethod
    def current(cls) -> "Reactor":
        hub = gevent.get_hub()
        reactor = cls._by_hub.get(id(hub))
        if reactor is None or reactor.hub is not hub:
            reactor = cls._by_hub[id(hub)] = cls(hub)
        return reactor

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.epoll = epoll()
        self.connections: dict[int, Connection] = {}
        self.watcher = hub.loop.io(self.epoll.fileno(), 1)
        self.timer = hub.loop.timer(DEADLINE_CHECK_S, DEADLINE_CHECK_S)
        self.watcher.start(self._ready)
        self.timer.start(self._expire)
        self.timer.ref = False  # the deadline check alone must not keep the hub running

    def add(self, connection: Connection) -> None:
        self.connections[connection.fd] = connection
        self.epoll.register(connection.fd, select.EPOLLIN | select.EPOLLRDHUP)

    def remove(self, connection: Connection) -> None:
        if self.connections.get(connection.fd) is connection:
            del self.connections[connection.fd]
            self.epoll.unregister(connection.fd)

    def _ready(self) -> None:
        for fd, _events in self.epoll.poll(0):
            connection = self.connections.get(fd)
            if connection is not None:
                connection.on_readable()

    def _expire(self) -> None:
        now = time.monotonic()
        for connection in list(self.connections.values()):
            connection.expire(now)
