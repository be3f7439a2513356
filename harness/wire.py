"""One HTTP/1.1 client on a raw socket, tolerant as Test::Nginx's own: the request's bytes are written
as given (packets, each after its delay), the answer is read as bytes (until the server closes, or
until the answers asked for are complete), then parsed leniently.

The parse follows Test::Nginx's: the status line and the header lines as HTTP::Response reads them
(duplicates kept in order, folded lines joined), a body decoded as chunked only when
``Transfer-Encoding`` reads exactly ``chunked`` (two such headers read ``chunked, chunked``, and the
body is then given as sent), cut at ``Content-Length``, or else everything up to the close. A ``101``
answer's body is the rest of the stream (websocket frames as bytes); other ``1xx`` answers are
answers of their own (``100 Continue`` is then the status, the rest its body). HEAD, ``204`` and
``304`` answers have no body, so pipelined answers after them stay whole. Timeouts count per I/O
event: ``timeout`` seconds without a byte written or read."""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

_HEADER = re.compile(rb"([^\s:]+)[ \t]*: ?(.*)\n?")
_FOLDED = re.compile(rb"([ \t].*)\n?")
_CHUNK_SIZE = re.compile(rb"[ \t]*([A-Fa-f0-9]+)[^\r\n]*\r\n")
_LAST_CHUNK = re.compile(rb"0[ \t]*\r\n")
_TRAILER_LINE = re.compile(rb"[^\r\n]+\r\n")
_REQUEST_LINE = re.compile(rb"(?m)^\s*([A-Z]+) \S+")


@dataclass(frozen=True)
class Packet:
    """Bytes written in one go, after ``delay_before`` seconds."""

    data: bytes
    delay_before: float = 0.0


@dataclass
class Answer:
    """One parsed answer, or what stood in its place (``status`` None: nothing that reads as one)."""

    status: Optional[int] = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)  # in order, duplicates kept
    raw_headers: str = ""  # status line and header lines, each with its CRLF (Test::Nginx's raw headers)
    body: bytes = b""
    complete: bool = False  # the body's framing (length, last chunk, the close) was all there
    timed_out: bool = False  # the read stopped because nothing came for the timeout
    error: str = ""
    elapsed_ms: float = 0.0

    def header(self, name: str) -> Optional[str]:
        """The values of every header of that name (any case) joined with ", ", as HTTP::Headers does."""
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass(frozen=True)
class Received:
    """The raw bytes one connection returned, and how the reading ended."""

    data: bytes
    closed: bool  # the server closed the connection
    timed_out: bool
    error: str = ""
    elapsed_ms: float = 0.0


def _chunked(raw: bytes) -> tuple[bytes, bytes, str]:
    """(decoded body, the bytes after the last chunk, what is wrong with the chunks)."""
    decoded = bytearray()
    pos = 0
    while True:
        last = _LAST_CHUNK.match(raw, pos)
        if last:
            pos = last.end()
            while not raw.startswith(b"\r\n", pos):  # trailer fields, if any
                line = _TRAILER_LINE.match(raw, pos)
                if not line:
                    return bytes(decoded), b"", "invalid chunked data received (no end of the trailer)"
                pos = line.end()
            return bytes(decoded), raw[pos + 2:], ""
        size = _CHUNK_SIZE.match(raw, pos)
        if not size:
            problem = f"invalid chunked body received: {raw[pos:pos + 40]!r}" if pos < len(raw) else "no last chunk found"
            return bytes(decoded), b"", problem
        start, length = size.end(), int(size.group(1), 16)
        if len(raw) - start < length:
            decoded += raw[start:]
            return bytes(decoded), b"", "invalid chunked data received (not enough octets for the data section)"
        decoded += raw[start:start + length]
        pos = start + length
        if not raw.startswith(b"\r\n", pos):
            return bytes(decoded), b"", "invalid chunked data received (expected CRLF)"
        pos += 2


def _status_line(line: bytes) -> tuple[Optional[int], str]:
    """HTTP::Response's split of the status line: ``PROTOCOL CODE MESSAGE`` (or ``CODE MESSAGE``)."""
    text = line.decode("latin-1")
    parts = ["", *text.split(None, 1)] if re.match(r"\d{3} ", text) else text.split(None, 2)
    code = parts[1] if len(parts) > 1 else ""
    return (int(code) if code.isdigit() else None), (parts[2] if len(parts) > 2 else "")


def parse_answer(data: bytes, head: bool = False, closed: bool = True) -> tuple[Answer, bytes]:
    """The first answer in ``data`` and the bytes after it (the next pipelined answer's). ``head``:
    it answers a HEAD request; ``closed``: nothing more will come (a body without framing ends here)."""
    answer = Answer()
    if not data:
        return answer, b""
    ends = re.match(rb"(.*?\r\n)\r\n", data, re.DOTALL)
    answer.raw_headers = ends.group(1).decode("latin-1") if ends else ""
    newline = data.find(b"\n")
    line, rest = (data, b"") if newline < 0 else (data[:newline], data[newline + 1:])
    answer.status, answer.reason = _status_line(line.removesuffix(b"\r"))
    headers: list[tuple[bytes, bytes]] = []
    pos = 0
    while True:
        if m := _HEADER.match(rest, pos):
            headers.append((m.group(1), m.group(2).removesuffix(b"\r")))
        elif headers and (m := _FOLDED.match(rest, pos)):
            headers[-1] = (headers[-1][0], headers[-1][1] + b"\n" + m.group(1).removesuffix(b"\r"))
        else:
            pos += 2 if rest.startswith(b"\r\n", pos) else 1 if rest.startswith(b"\n", pos) else 0
            break
        pos = m.end()
    answer.headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
    content = rest[pos:]
    headed = ends is not None
    if answer.status == 101:  # the connection is now the upgraded protocol's: all of it is the body
        answer.body, answer.complete = content, headed and closed
        return answer, b""
    if head or answer.status in (204, 304):
        answer.complete = headed
        return answer, content
    length = re.match(r"\s*(\d+)", answer.header("Content-Length") or "")
    if answer.header("Transfer-Encoding") == "chunked":
        answer.body, left, answer.error = _chunked(content)
        answer.complete = headed and not answer.error
        if answer.error and not closed:
            answer.error = ""  # more may come
        return answer, left
    if length:
        size = int(length.group(1))
        answer.body, answer.complete = content[:size], headed and len(content) >= size
        return answer, content[size:]
    answer.body, answer.complete = content, headed and closed
    return answer, b""


def parse_answers(data: bytes, count: int, heads: Sequence[bool] = (), closed: bool = True) -> list[Answer]:
    """``count`` answers read one after another from ``data`` (those missing have no status)."""
    out = []
    for index in range(count):
        answer, data = parse_answer(data, heads[index] if index < len(heads) else False, closed)
        out.append(answer)
    return out


def heads_of(packets: Sequence[Packet]) -> list[bool]:
    """Which of the requests in these bytes are HEAD requests, in order (from their request lines)."""
    sent = b"".join(p.data for p in packets)
    return [m.group(1) == b"HEAD" for m in _REQUEST_LINE.finditer(sent)]


def talk(host: str, port: int, packets: Sequence[Packet], timeout: float, *, until_close: bool = True,
         answers: int = 1, shutdown: Optional[int] = None) -> Received:
    """Connect, write ``packets`` (each after its delay), then read: until the server closes the
    connection or ``timeout`` seconds pass without a byte (``until_close``: nginx closes a
    ``Connection: close`` answer after its log phase, so its log lines are then written), or only
    until ``answers`` answers are complete. ``shutdown``: shut that direction down after writing
    (``socket.SHUT_WR`` ...), as Test::Nginx's ``--- shutdown``."""
    started = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return Received(b"", False, isinstance(exc, socket.timeout), f"connect failed: {exc}", _ms(started))
    data = bytearray()
    heads = heads_of(packets)
    with sock:
        sock.settimeout(timeout)
        problem = ""
        try:
            for packet in packets:
                if packet.delay_before:
                    time.sleep(packet.delay_before)  # the block asks for this gap between packets
                sock.sendall(packet.data)
            if shutdown is not None:
                sock.shutdown(shutdown)
        except socket.timeout:
            return Received(b"", False, True, "", _ms(started))
        except OSError as exc:  # nginx may have answered and closed before all was written
            problem = f"send failed: {exc}"
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return Received(bytes(data), False, True, problem, _ms(started))
            except OSError as exc:
                return Received(bytes(data), True, False, problem or f"receive failed: {exc}", _ms(started))
            if not chunk:
                return Received(bytes(data), True, False, problem, _ms(started))
            data += chunk
            if not until_close and all(a.complete for a in parse_answers(bytes(data), answers, heads, closed=False)):
                return Received(bytes(data), False, False, problem, _ms(started))


class Talker(Protocol):
    """What sends the bytes and reads the answer: :func:`talk`, or the same run elsewhere (a companion
    inside the server's network namespace)."""

    def __call__(self, host: str, port: int, packets: Sequence[Packet], timeout: float, *, until_close: bool = True,
                 answers: int = 1, shutdown: Optional[int] = None) -> Received: ...


def exchange(host: str, port: int, packets: Sequence[Packet], timeout: float, *, answers: int = 1,
             until_close: bool = True, shutdown: Optional[int] = None, http09: bool = False,
             talker: Talker = talk) -> list[Answer]:
    """Send ``packets`` on one connection and parse ``answers`` answers from what came back (always
    that many; the last one says whether the read timed out). ``http09``: the answer is a bare body
    (HTTP/0.9), all bytes until the close, read as a 200 (as Test::Nginx reads it)."""
    received = talker(host, port, packets, timeout, until_close=until_close, answers=answers, shutdown=shutdown)
    closed = received.closed or received.timed_out
    out = ([Answer(200, "OK", body=received.data, complete=closed)] + [Answer() for _ in range(answers - 1)]
           if http09 else parse_answers(received.data, answers, heads_of(packets), closed=closed))
    for answer in out:
        answer.elapsed_ms = received.elapsed_ms
        if answer.status is None and not answer.error:
            answer.error = received.error or ("timed out" if received.timed_out else "closed without an answer")
    if out:
        out[-1].timed_out = received.timed_out
    return out


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
