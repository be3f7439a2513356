"""What a scenario step sends: requests one after another, at once, pipelined on one connection, or
raw bytes; each answer becomes an :class:`Outcome`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import urlsplit

import httpx

from harness.load.probe import burst
from harness.scenarios.spec import Request
from harness.wire import Answer, Packet, exchange


@dataclass(frozen=True)
class Outcome:
    """One answer (or its absence)."""

    request: str
    status: Optional[int] = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    timed_out: bool = False
    error: str = ""

    def brief(self) -> str:
        if self.timed_out:
            return f"{self.request} -> timed out after {self.elapsed_ms:.0f} ms"
        if self.error:
            return f"{self.request} -> {self.error}"
        body = self.body if len(self.body) <= 60 else self.body[:57] + "..."
        return f"{self.request} -> {self.status} {body!r} in {self.elapsed_ms:.1f} ms"


def send(client: httpx.Client, request: Request, url_for: Callable[[Optional[int], str], str]) -> Outcome:
    """One request with ``client`` to ``url_for(port, path)``; a timeout or a broken connection is an
    outcome, not an exception."""
    url = url_for(request.port, request.path)
    started = time.perf_counter()
    try:
        response = client.request(request.method, url, headers=request.headers, content=request.body,
                                  timeout=request.timeout if request.timeout is not None else httpx.USE_CLIENT_DEFAULT)
    except httpx.TimeoutException:
        return Outcome(request.line(), elapsed_ms=_ms(started), timed_out=True)
    except httpx.HTTPError as exc:
        return Outcome(request.line(), elapsed_ms=_ms(started), error=f"{type(exc).__name__}: {exc}")
    return Outcome(request.line(), response.status_code, response.text, dict(response.headers), _ms(started))


def send_concurrently(base_url: str, request: Request, n: int, default_timeout: float) -> list[Outcome]:
    """``n`` copies of a GET at the same moment, each on its own connection."""
    if request.method != "GET":
        raise ValueError("concurrent requests are GETs")
    result = burst(base_url + request.path, n=n, timeout=request.timeout or default_timeout)
    outcomes = [Outcome(request.line(), status, "", {}, seconds * 1000)
                for status, seconds in zip(result.statuses, result.latencies_s)]
    outcomes += [Outcome(request.line(), timed_out=True, elapsed_ms=(request.timeout or default_timeout) * 1000)
                 for _ in range(result.timed_out)]
    outcomes += [Outcome(request.line(), error=kind) for kind, count in result.errors.items() for _ in range(count)]
    return outcomes


def send_pipelined(base_url: str, requests: list[Request], timeout: float) -> list[Outcome]:
    """Write every request at once on one connection, then read the answers in order."""
    host, port = _host_port(base_url)
    payload = b"".join(_wire(r, host) for r in requests)
    answers = exchange(host, port, [Packet(payload)], timeout, answers=len(requests), until_close=False)
    return [_outcome(r.line(), a) for r, a in zip(requests, answers)]


def send_raw(base_url: str, data: str, timeout: float) -> Outcome:
    """Send ``data`` as it is; read its answer (until it is complete, the server closes or
    ``timeout`` passes)."""
    host, port = _host_port(base_url)
    answer = exchange(host, port, [Packet(data.encode("latin-1"))], timeout, until_close=False)[0]
    return _outcome(data.split("\r\n", 1)[0][:60], answer)


def _outcome(line: str, answer: Answer) -> Outcome:
    if answer.status is None:
        return Outcome(line, body=answer.body.decode("utf-8", "replace"), elapsed_ms=answer.elapsed_ms,
                       timed_out=answer.timed_out, error="" if answer.timed_out else answer.error)
    headers = {name.lower(): answer.header(name) or "" for name, _ in answer.headers}
    return Outcome(line, answer.status, answer.body.decode("utf-8", "replace"), headers, answer.elapsed_ms)


def _wire(request: Request, host: str) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}",
             *(f"{k}: {v}" for k, v in request.headers.items())]
    body = (request.body or "").encode()
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
