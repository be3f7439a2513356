"""The network-namespace companion of an OpenResty container: it runs in the tools image, joined to
that container's network namespace, so what it listens on is the container's own 127.0.0.1.

Three jobs:

- **forwards**: ``127.0.0.1:PORT`` -> a service of the session (Redis, memcached, or the fault
  proxy in front of one), for suites that hard-code ``127.0.0.1:$TEST_NGINX_REDIS_PORT``. A
  forward is the fault proxy's :class:`Proxy` without toxics, bound to 127.0.0.1.
- **a local client**: a block's requests sent from 127.0.0.1 (``POST /talk``: harness/wire.py's
  raw client, run here), for blocks that look at the client's address (``client: 127.0.0.1``).
- **mock peers**: the TCP and UDP servers a Test::Nginx block declares (``tcp_listen``,
  ``udp_listen`` and their sections), armed before each repetition's requests and read back after
  them. Their behaviour follows Test::Nginx's documentation (see :class:`TcpPeer`, :class:`UdpPeer`).

API (JSON, one request per connection): ``GET /ready``; ``PUT /forwards {name: [listen, host,
port]}`` (the whole table); ``POST /peers {"tcp": spec|null, "udp": spec|null}`` (answers once
they listen; 409 with the reason when a port cannot be had); ``POST /peers/collect`` (stops them and
answers what each received, base64); for a peer whose reply is asked of the harness (``"ask": true``:
a Perl sub of the block's, which Test::Nginx calls with the query) ``POST /peers/question {"wait": s}``
answers the next query (``{"kind", "query"}``, or ``{}`` after ``wait`` s) and ``POST /peers/answer
{"kind", "reply": [pieces]}`` sends its reply. Bytes travel as base64 both ways.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
from typing import Any, Awaitable, Callable, Optional, cast

from harness.sidecars.fault_proxy import Json, Proxy, json_api
from harness.wire import Packet, talk

LOOPBACK = "127.0.0.1"
READ_SIZE = 4096  # what one read of a mock peer takes (as Test::Nginx's peers)
SHUTDOWN = {0: socket.SHUT_RD, 1: socket.SHUT_WR, 2: socket.SHUT_RDWR}
Ask = Callable[[str, bytes], Awaitable[Optional[list[bytes]]]]  # (kind, query) -> the reply the harness gives


async def no_answer(kind: str, query: bytes) -> Optional[list[bytes]]:
    return None


def _pieces(spec: Json) -> Optional[list[bytes]]:
    reply = spec.get("reply")
    return None if reply is None else [base64.b64decode(p) for p in reply]


class TcpPeer:
    """A mock TCP server for one repetition of a block.

    It listens on 127.0.0.1:``port`` (or the unix socket ``path``) and serves the first connection only (later ones wait in the
    backlog, unanswered, until the repetition ends, as under Test::Nginx): ``shutdown`` (0 read, 1
    write, 2 both; after ``shutdown_delay`` s) first, if given; then it reads (unless the read side
    is shut) until ``query_len`` bytes came (none given: one read), or, with ``auto_timeout``, until
    the client was quiet that long; waits ``reply_delay`` s; writes each piece of ``reply`` with
    its own send (unless the write side is shut); and closes the connection, unless ``no_close``
    (then it stays open until the repetition ends). With ``ask`` the reply is what ``asker`` gives for
    the query (the block's Perl sub, called by the harness).
    """

    def __init__(self, spec: Json, asker: Ask = no_answer) -> None:
        self.ask = bool(spec.get("ask"))
        self.asker = asker
        self.port = int(spec.get("port") or 0)
        self.path = str(spec.get("path") or "")  # a unix socket instead of a port
        self.query_len = int(spec.get("query_len") or 0)
        self.auto_timeout: Optional[float] = spec.get("auto_timeout")
        self.reply = _pieces(spec)
        self.reply_delay = float(spec.get("reply_delay") or 0)
        self.shutdown: Optional[int] = spec.get("shutdown")
        self.shutdown_delay = float(spec.get("shutdown_delay") or 0)
        self.no_close = bool(spec.get("no_close"))
        self.received = b""
        self.accepted = 0
        self.replied = False
        self.error = ""
        self.listener: Optional[socket.socket] = None
        self.conn: Optional[socket.socket] = None
        self.task: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX if self.path else socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.path:  # as Test::Nginx: an old socket file goes first; nginx's workers may connect
                if os.path.exists(self.path):
                    os.unlink(self.path)
                sock.bind(self.path)
                os.chmod(self.path, 0o777)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((LOOPBACK, self.port))
            sock.listen(5)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.listener = sock
        self.task = asyncio.create_task(self.serve())

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.listener is not None
        try:
            conn, _ = await loop.sock_accept(self.listener)
            self.conn = conn
            self.accepted += 1
            read, write = True, True
            if self.shutdown is not None:
                await asyncio.sleep(self.shutdown_delay)
                conn.shutdown(SHUTDOWN[int(self.shutdown)])
                read, write = int(self.shutdown) == 1, int(self.shutdown) == 0
            if read:
                await self.read(loop, conn)
            if write and self.ask:
                self.reply = await self.asker("tcp", self.received)
            await asyncio.sleep(self.reply_delay)
            if write and self.reply is not None:
                for piece in self.reply:
                    await loop.sock_sendall(conn, piece)
                self.replied = True
            if not self.no_close:
                conn.close()
                self.conn = None
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    async def read(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        while True:
            if self.auto_timeout is not None:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(conn, READ_SIZE), self.auto_timeout)
                except asyncio.TimeoutError:
                    return
            else:
                data = await loop.sock_recv(conn, READ_SIZE)
            if not data:
                return  # the client closed: nothing more will come
            self.received += data
            if self.auto_timeout is None and (not self.query_len or len(self.received) >= self.query_len):
                return

    async def stop(self) -> Json:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for sock in (self.conn, self.listener):
            if sock is not None:
                sock.close()
        self.conn = self.listener = None
        return {"port": self.port, "path": self.path, "query": base64.b64encode(self.received).decode(),
                "accepted": self.accepted,
                "replied": self.replied, "error": self.error}


class UdpPeer(asyncio.DatagramProtocol):
    """A mock UDP server for one repetition: it binds ``port`` (every address, as Test::Nginx's),
    takes the first datagram (up to 4096 bytes), waits ``reply_delay`` s and sends each piece of
    ``reply`` back as a datagram of its own (with ``ask``: each piece ``asker`` gives for the query);
    later datagrams are left unread."""

    def __init__(self, spec: Json, asker: Ask = no_answer) -> None:
        self.ask = bool(spec.get("ask"))
        self.asker = asker
        self.port = int(spec["port"])
        self.reply = _pieces(spec) or []
        self.reply_delay = float(spec.get("reply_delay") or 0)
        self.received: Optional[bytes] = None
        self.datagrams = 0
        self.replied = False
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.task: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", self.port))
        except OSError:
            sock.close()
            raise
        await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams += 1
        if self.received is None:
            self.received = data[:READ_SIZE]
            self.task = asyncio.get_running_loop().create_task(self.answer(addr))

    async def answer(self, addr: Any) -> None:
        if self.ask:
            self.reply = await self.asker("udp", self.received or b"") or []
        await asyncio.sleep(self.reply_delay)
        if self.transport is not None:
            for piece in self.reply:
                self.transport.sendto(piece, addr)
            self.replied = True

    async def stop(self) -> Json:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        return {"port": self.port, "query": base64.b64encode(self.received or b"").decode(),
                "datagrams": self.datagrams, "replied": self.replied}


class Companion:
    """The forward table and the current repetition's peers."""

    def __init__(self) -> None:
        self.forwards: dict[str, Proxy] = {}
        self.suspended: list[Proxy] = []  # forwards whose port a mock peer holds for now
        self.tcp: Optional[TcpPeer] = None
        self.udp: Optional[UdpPeer] = None
        self.questions: "asyncio.Queue[tuple[str, bytes]]" = asyncio.Queue()
        self.asked: dict[str, asyncio.Future[Optional[list[bytes]]]] = {}

    async def ask(self, kind: str, query: bytes) -> Optional[list[bytes]]:
        """A peer's query for the harness to answer (``/peers/question``, ``/peers/answer``)."""
        future: asyncio.Future[Optional[list[bytes]]] = asyncio.get_running_loop().create_future()
        self.asked[kind] = future
        await self.questions.put((kind, query))
        return await future

    async def question(self, body: Json) -> Json:
        try:
            kind, query = await asyncio.wait_for(self.questions.get(), float(body.get("wait") or 0))
        except asyncio.TimeoutError:
            return {}
        return {"kind": kind, "query": base64.b64encode(query).decode()}

    async def answer(self, body: Json) -> Json:
        future = self.asked.pop(str(body.get("kind")), None)
        if future is not None and not future.done():
            reply = body.get("reply")
            future.set_result(None if reply is None else [base64.b64decode(p) for p in reply])
        return {}

    async def talk(self, body: Json) -> Json:
        """A client's exchange with nginx from this namespace (the raw client of harness/wire.py, in a
        thread): nginx sees it come from 127.0.0.1."""
        packets = [Packet(base64.b64decode(data), float(delay)) for data, delay in body["packets"]]
        shutdown = body.get("shutdown")
        got = await asyncio.to_thread(talk, str(body.get("host") or LOOPBACK), int(body["port"]), packets,
                                      float(body["timeout"]), until_close=bool(body.get("until_close", True)),
                                      answers=int(body.get("answers") or 1),
                                      shutdown=None if shutdown is None else int(shutdown))
        return {"data": base64.b64encode(got.data).decode(), "closed": got.closed, "timed_out": got.timed_out,
                "error": got.error, "elapsed_ms": got.elapsed_ms}

    async def set_forwards(self, table: Json) -> Json:
        for name in [n for n in self.forwards if n not in table]:
            await self.forwards.pop(name).disable()
        for name, (listen, host, port) in table.items():
            old = self.forwards.get(name)
            if old is not None and (old.listen_port, old.upstream) == (int(listen), (host, int(port))):
                continue
            if old is not None:
                await old.disable()
            self.forwards[name] = Proxy(name, int(listen), (host, int(port)), host=LOOPBACK)
            await self.forwards[name].enable()
        return {name: p.as_dict() for name, p in self.forwards.items()}

    async def arm(self, body: Json) -> Json:
        await self.collect()  # whatever the last repetition left
        for kind in ("tcp", "udp"):
            spec = body.get(kind)
            if not spec:
                continue
            if kind == "tcp":  # a mock peer on a forward's port has it for the repetition
                for proxy in self.forwards.values():
                    if proxy.listen_port == int(spec.get("port") or 0) and proxy.enabled:
                        await proxy.disable()
                        self.suspended.append(proxy)
            peer = TcpPeer(spec, self.ask) if kind == "tcp" else UdpPeer(spec, self.ask)
            try:
                await peer.start()
            except OSError as exc:
                await self.collect()
                target = spec.get("path") or spec.get("port")
                raise PeerError(f"{kind}_listen {target}: cannot listen: {exc.strerror or exc}") from None
            if isinstance(peer, TcpPeer):
                self.tcp = peer
            else:
                self.udp = peer
        return {}

    async def collect(self) -> Json:
        out: dict[str, Optional[Json]] = {"tcp": None, "udp": None}
        if self.tcp is not None:
            out["tcp"] = await self.tcp.stop()
            self.tcp = None
        if self.udp is not None:
            out["udp"] = await self.udp.stop()
            self.udp = None
        for proxy in self.suspended:
            await proxy.enable()
        self.suspended = []
        for future in self.asked.values():
            future.cancel()
        self.asked = {}
        while not self.questions.empty():
            self.questions.get_nowait()
        return out

    async def route(self, method: str, parts: list[str], body: Json) -> tuple[int, object]:
        if parts == ["ready"] and method == "GET":
            return 200, {"forwards": sorted(self.forwards)}
        if parts == ["forwards"] and method == "PUT":
            return 200, await self.set_forwards(body)
        if parts == ["peers"] and method == "POST":
            try:
                return 200, await self.arm(body)
            except PeerError as exc:
                return 409, {"error": str(exc)}
        if parts == ["peers", "collect"] and method == "POST":
            return 200, await self.collect()
        if parts == ["talk"] and method == "POST":
            return 200, await self.talk(body)
        if parts == ["peers", "question"] and method == "POST":
            return 200, await self.question(body)
        if parts == ["peers", "answer"] and method == "POST":
            return 200, await self.answer(body)
        return 404, {"error": f"no route for {method} /{'/'.join(parts)}"}


class PeerError(Exception):
    """A mock peer's port cannot be had."""


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", type=int, required=True)
    parser.add_argument("--link", action="append", default=[],
                        help="PATH=TARGET: a symlink, so a path reads as in the OpenResty container")
    args = parser.parse_args()
    for link in args.link:
        path, target = link.split("=", 1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
    companion = Companion()
    server = await asyncio.start_server(json_api(companion.route), "0.0.0.0", args.api)
    print(f"companion: api on :{args.api}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
