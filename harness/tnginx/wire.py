"""The bytes of a block's requests on a socket, and the answers read back with h11 (chunked bodies
decoded). Timeouts are per I/O event, as Test::Nginx's client counts them."""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

import h11

from harness.tnginx.block import WireRequest


@dataclass
class Answer:
    status: Optional[int] = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw_headers: str = ""
    body: bytes = b""
    timed_out: bool = False
    error: str = ""
    elapsed_ms: float = 0.0

    def header(self, name: str) -> Optional[str]:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None


def exchange(host: str, port: int, request: WireRequest, timeout: float) -> list[Answer]:
    """Send one connection's packets, read ``request.answers`` answers (fewer if it closes)."""
    started = time.perf_counter()
    answers: list[Answer] = []
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return [Answer(error=f"connect failed: {exc}")]
    with sock:
        sock.settimeout(timeout)
        try:
            for packet in request.packets:
                if packet.delay_before:
                    time.sleep(packet.delay_before)  # the block asks for the gap between packets
                sock.sendall(packet.data)
        except OSError as exc:
            return [Answer(error=f"send failed: {exc}", elapsed_ms=_ms(started))]
        conn = h11.Connection(h11.CLIENT)
        sent = b"".join(p.data for p in request.packets)
        methods = [m.decode() for m in re.findall(rb"(?m)^([A-Z]+) \S+", sent)] or ["GET"]
        for index in range(request.answers):
            answer = _read_one(sock, conn, started, methods[min(index, len(methods) - 1)])
            answers.append(answer)
            if answer.status is None or conn.our_state is h11.ERROR or conn.their_state is h11.CLOSED:
                break
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                break
        if answers and conn.their_state is h11.MUST_CLOSE:
            _await_close(sock)
    return answers


def _await_close(sock: socket.socket) -> None:
    """Read on until nginx closes the connection (within the socket's timeout), as Test::Nginx does:
    nginx runs the request's log phase before it closes, so the block's log checks then see its lines."""
    try:
        while sock.recv(65536):
            pass
    except OSError:  # the timeout included: the checks report what is there
        pass


def _read_one(sock: socket.socket, conn: h11.Connection, started: float, method: str) -> Answer:
    # h11 is a client state machine: tell it which request went out (a HEAD answer has no body)
    answer = Answer()
    try:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "localhost")]))
        conn.send(h11.EndOfMessage())
    except h11.LocalProtocolError:
        pass
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            answer.error = f"bad response: {exc}"
            break
        if event is h11.NEED_DATA:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                answer.timed_out = True
                break
            except OSError as exc:
                answer.error = f"receive failed: {exc}"
                break
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Response):
            answer.status = event.status_code
            answer.headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
            reason = event.reason.decode("latin-1")
            answer.raw_headers = (f"HTTP/{event.http_version.decode()} {event.status_code} {reason}\r\n"
                                  + "".join(f"{n}: {v}\r\n" for n, v in answer.headers) + "\r\n")
        elif isinstance(event, h11.InformationalResponse):
            continue
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            if isinstance(event, h11.ConnectionClosed) and answer.status is None:
                answer.error = "connection closed before a response"
            break
    answer.body = bytes(body)
    answer.elapsed_ms = _ms(started)
    return answer


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
