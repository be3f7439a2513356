"""The harness's TCP fault proxy (runs inside the tools container; standard library only).

Toxiproxy cannot be pulled or installed here, so this proxy gives its toxics the same names and
meanings, on the same two streams ("upstream": client to server, "downstream": server to client):

    latency    {latency, jitter}          ms added to every chunk (jitter: +/- uniformly)
    bandwidth  {rate}                     KB/s
    slicer     {average_size, size_variation, delay}   chunks of bytes, delay in microseconds
    limit_data {bytes}                    close the connection once this many bytes passed
    timeout    {timeout}                  drop all data; close after timeout ms (0: never)
    reset_peer {timeout}                  reset the connection (TCP RST) after timeout ms; with 0,
                                          as soon as data comes on the toxic's stream
    down                                  POST /proxies/<name> {"enabled": false}: refuse connections

Each route counts, from its start: connections accepted, bytes passed on each stream, and HTTP/1.x
request lines the clients sent (so a test can tell one connection per request from keepalive).

API (JSON): GET /proxies (with the counters); POST /proxies/<name> {"enabled": bool};
POST /proxies/<name>/drop (close its open connections now: the clients' pools empty); POST /proxies/<name>/toxics
{name, type, stream, toxicity, attributes}; DELETE /proxies/<name>/toxics/<toxic>; POST /reset.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

STREAMS = ("upstream", "downstream")
TYPES = ("latency", "bandwidth", "slicer", "limit_data", "timeout", "reset_peer")
REQUEST_LINE = re.compile(rb"(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|CONNECT|TRACE) \S+ HTTP/1\.[01]")
LONGEST_LINE = 8192  # a partial line kept between reads (longer ones are no request line we count)
Json = dict[str, Any]  # a decoded JSON object (what the API reads and answers)


@dataclass
class Toxic:
    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Json = field(default_factory=dict)
    added: float = field(default_factory=time.monotonic)

    def attr(self, key: str, default: float = 0) -> float:
        return float(self.attributes.get(key, default))

    def as_dict(self) -> Json:
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": self.attributes}


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]  # one side of a connection


class Link:
    """One client connection and its connection to the upstream."""

    def __init__(self, proxy: "Proxy", client: Stream, upstream: Stream) -> None:
        self.proxy = proxy
        self.client_r, self.client_w = client
        self.up_r, self.up_w = upstream
        self.rolls: dict[int, bool] = {}  # toxic id -> does it apply to this connection
        self.sent = {s: 0 for s in STREAMS}
        self.started = time.monotonic()
        self.closed = False
        self.partial = b""  # the client's last incomplete line, for counting request lines

    def count_requests(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\r\n")
        self.partial = lines.pop()[-LONGEST_LINE:]
        self.proxy.requests += sum(1 for line in lines if REQUEST_LINE.fullmatch(line))

    def active(self, stream: str | None = None) -> list[Toxic]:
        out = []
        for toxic in list(self.proxy.toxics.values()):
            if stream is not None and toxic.stream != stream:
                continue
            if id(toxic) not in self.rolls:
                self.rolls[id(toxic)] = random.random() < toxic.toxicity
            if self.rolls[id(toxic)]:
                out.append(toxic)
        return out

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_w, self.up_w):
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: str) -> None:
        try:
            while not self.closed:
                data = await reader.read(65536)
                if not data:
                    # a blackholed stream does not pass on the end of the stream either
                    while not self.closed and any(t.type == "timeout" for t in self.active(stream)):
                        await asyncio.sleep(0.01)
                    break
                if stream == "upstream":
                    self.count_requests(data)
                pieces = [(data, 0.0)]
                for toxic in self.active(stream):
                    if toxic.type == "reset_peer" and toxic.attr("timeout") <= 0:
                        self.close(reset=True)  # mid-stream: the data that would have passed meets a RST
                        return
                    if toxic.type == "timeout":
                        pieces = []  # dropped while the toxic lasts
                    elif toxic.type == "latency":
                        jitter = toxic.attr("jitter")
                        await asyncio.sleep(max(0.0, toxic.attr("latency") + random.uniform(-jitter, jitter)) / 1000)
                    elif toxic.type == "bandwidth" and toxic.attr("rate") > 0:
                        await asyncio.sleep(len(data) / (toxic.attr("rate") * 1024))
                    elif toxic.type == "slicer":
                        pieces = [p for chunk, delay in pieces for p in _slices(chunk, toxic)]
                    elif toxic.type == "limit_data":
                        room = int(toxic.attr("bytes")) - self.sent[stream]
                        pieces = _truncate(pieces, max(room, 0))
                for chunk, delay in pieces:
                    if delay:
                        await asyncio.sleep(delay)
                    writer.write(chunk)
                    self.sent[stream] += len(chunk)
                    self.proxy.bytes[stream] += len(chunk)
                await writer.drain()
                if any(t.type == "limit_data" and self.sent[stream] >= t.attr("bytes") for t in self.active(stream)):
                    self.close()
        except (ConnectionError, OSError):
            pass
        finally:
            if not self.closed:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    self.close()

    async def watch(self) -> None:
        """Timers of the timeout and reset_peer toxics (which act without any data flowing)."""
        while not self.closed:
            now = time.monotonic()
            for toxic in self.active():
                since = now - max(toxic.added, self.started)
                if toxic.type == "timeout" and toxic.attr("timeout") > 0 and since * 1000 >= toxic.attr("timeout"):
                    self.close()
                elif toxic.type == "reset_peer" and toxic.attr("timeout") > 0 and since * 1000 >= toxic.attr("timeout"):
                    self.close(reset=True)
            await asyncio.sleep(0.01)

    async def run(self) -> None:
        watcher = asyncio.create_task(self.watch())
        await asyncio.gather(self.pump(self.client_r, self.up_w, "upstream"),
                             self.pump(self.up_r, self.client_w, "downstream"))
        self.close()
        watcher.cancel()


def _slices(data: bytes, toxic: Toxic) -> list[tuple[bytes, float]]:
    average = max(1, int(toxic.attr("average_size", 1)))
    variation = int(toxic.attr("size_variation"))
    out, i = [], 0
    while i < len(data):
        size = max(1, average + random.randint(-variation, variation))
        out.append((data[i:i + size], toxic.attr("delay") / 1_000_000))
        i += size
    return out


def _truncate(pieces: list[tuple[bytes, float]], room: int) -> list[tuple[bytes, float]]:
    out = []
    for chunk, delay in pieces:
        if room <= 0:
            break
        out.append((chunk[:room], delay))
        room -= len(chunk)
    return out


class Proxy:
    def __init__(self, name: str, listen_port: int, upstream: tuple[str, int], host: str = "0.0.0.0") -> None:
        self.name = name
        self.host = host  # the address it listens on (the companion: 127.0.0.1 of its OpenResty)
        self.listen_port = listen_port
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.accepted = 0  # connections accepted since the start (counters never go back)
        self.requests = 0  # HTTP/1.x request lines the clients sent
        self.bytes = {s: 0 for s in STREAMS}  # bytes passed on, per stream
        self.server: asyncio.base_events.Server | None = None

    async def enable(self) -> None:
        if not self.enabled:
            self.server = await asyncio.start_server(self.accept, self.host, self.listen_port, reuse_address=True)
            self.enabled = True

    async def disable(self) -> None:
        server = self.server if self.enabled else None
        if server is not None:
            server.close()  # stop accepting
            self.enabled = False
        await self.drop()
        if server is not None:
            # Since Python 3.12 this also waits for every accepted connection's handler: only now
            # (links closed), or it would wait forever.
            await server.wait_closed()

    async def drop(self) -> int:
        """Close every open connection (the route stays up); returns how many there were."""
        links = list(self.links)
        for link in links:
            link.close()
        # answer the API only once the sockets are really closed, so a client's pooled
        # connection has seen its FIN before the caller's next request
        await asyncio.gather(*(w.wait_closed() for link in links for w in (link.client_w, link.up_w)),
                             return_exceptions=True)
        return len(links)

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(*self.upstream), timeout=5)
        except (OSError, asyncio.TimeoutError):
            writer.close()
            return
        link = Link(self, (reader, writer), upstream)
        self.links.add(link)
        try:
            await link.run()
        finally:
            self.links.discard(link)

    def as_dict(self) -> Json:
        return {"name": self.name, "listen": f"{self.host}:{self.listen_port}", "enabled": self.enabled,
                "upstream": "%s:%d" % self.upstream, "connections": len(self.links),
                "accepted": self.accepted, "requests": self.requests,
                "bytes_upstream": self.bytes["upstream"], "bytes_downstream": self.bytes["downstream"],
                "toxics": [t.as_dict() for t in self.toxics.values()]}


Route = Callable[[str, list[str], Json], Awaitable[tuple[int, object]]]


def json_api(route: Route) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection handler for a small JSON API (one request per connection): ``route(method,
    path parts, body)`` gives (status, answer); a request it cannot read gets a 400 with the reason.
    The sidecars' APIs (this proxy's, the companion's) share it."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            length = 0
            while (line := (await reader.readline()).decode().strip()):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            code, answer = await route(method, path.rstrip("/").split("/")[1:], body)
        except Exception as exc:  # noqa: BLE001 - every bad request gets a 400 with the reason
            code, answer = 400, {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(answer).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (code, len(data), data))
        await writer.drain()
        writer.close()
    return handle


class Api:
    def __init__(self, proxies: dict[str, Proxy]) -> None:
        self.proxies = proxies
        self.handle = json_api(self.route)

    async def route(self, method: str, parts: list[str], body: Json) -> tuple[int, object]:
        if parts == ["proxies"] and method == "GET":
            return 200, {name: p.as_dict() for name, p in self.proxies.items()}
        if parts == ["reset"] and method == "POST":
            for p in self.proxies.values():
                p.toxics.clear()
                await p.enable()
            return 200, {}
        if len(parts) < 2 or parts[0] != "proxies" or parts[1] not in self.proxies:
            return 404, {"error": f"no such proxy or path: /{'/'.join(parts)}"}
        proxy = self.proxies[parts[1]]
        if len(parts) == 2 and method == "POST":
            await (proxy.enable() if body.get("enabled", True) else proxy.disable())
            return 200, proxy.as_dict()
        if len(parts) == 3 and parts[2] == "drop" and method == "POST":
            return 200, {"dropped": await proxy.drop()}
        if len(parts) == 3 and parts[2] == "toxics" and method == "POST":
            toxic = Toxic(name=body.get("name") or f"{body['type']}_{body.get('stream', 'downstream')}",
                          type=body["type"], stream=body.get("stream", "downstream"),
                          toxicity=float(body.get("toxicity", 1.0)), attributes=body.get("attributes", {}))
            if toxic.type not in TYPES or toxic.stream not in STREAMS:
                return 400, {"error": f"type must be one of {TYPES}, stream one of {STREAMS}"}
            if toxic.name in proxy.toxics:
                return 409, {"error": f"toxic {toxic.name} exists"}
            proxy.toxics[toxic.name] = toxic
            return 200, toxic.as_dict()
        if len(parts) == 4 and parts[2] == "toxics" and method == "DELETE":
            proxy.toxics.pop(parts[3], None)
            return 200, {}
        return 404, {"error": f"no route for {method} /{'/'.join(parts)}"}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", action="append", default=[], help="NAME=LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT")
    parser.add_argument("--api", type=int, default=8474)
    args = parser.parse_args()
    proxies = {}
    for spec in args.proxy:
        name, rest = spec.split("=", 1)
        listen, host, port = rest.split(":")
        proxies[name] = Proxy(name, int(listen), (host, int(port)))
        await proxies[name].enable()
    server = await asyncio.start_server(Api(proxies).handle, "0.0.0.0", args.api)
    print(f"fault proxy: {', '.join(args.proxy)}; api on :{args.api}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
