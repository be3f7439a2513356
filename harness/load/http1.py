"""A lean HTTP/1.1 keep-alive connection (GET only): write a prepared request, read the status line,
the headers that matter (Content-Length, chunked, Connection: close) and the body. No locust here;
:mod:`harness.load.rawhttp` puts it in a locust user."""
from __future__ import annotations

import socket

NO_BODY = (204, 304)


class HttpStatusError(Exception):
    """A response with status >= 400 (reported as a failure, by status)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class ProtocolError(Exception):
    """The server closed the connection or answered something that is not HTTP/1.x."""


class Connection:
    """One keep-alive connection to host:port, with a read buffer."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        self.buf += data

    def _take_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def _take(self, n: int) -> None:
        while len(self.buf) < n:
            self._fill()
        del self.buf[:n]

    def exchange(self, request: bytes) -> tuple[int, int, bool]:
        """Send ``request``; return (status, body length, keep-alive)."""
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).lower()
        del self.buf[:end + 4]
        if not head.startswith(b"http/1."):
            raise ProtocolError(f"not an HTTP/1.x response: {head[:40]!r}")
        status = int(head[9:12])
        keep_alive = b"\r\nconnection: close" not in head
        length = 0
        if status in NO_BODY or 100 <= status < 200:
            return status, 0, keep_alive
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:stop if stop >= 0 else None])
            self._take(length)
        elif b"\r\ntransfer-encoding: chunked" in head:
            while True:
                size = int(self._take_line().split(b";", 1)[0], 16)
                if size == 0:
                    while self._take_line():  # trailers end with an empty line
                        pass
                    break
                self._take(size + 2)
                length += size
        else:  # no length: the body ends when the server closes
            try:
                while True:
                    self._fill()
            except ProtocolError:
                length, keep_alive = len(self.buf), False
                self.buf.clear()
        return status, length, keep_alive
