"""Mock peers and forwards without Docker: the block's peer sections, the checks on what a peer
received, and the companion sidecar's behaviour, run in this process on 127.0.0.1."""
import asyncio
import base64
import shutil
import socket
import time
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.sidecars.companion import Companion, TcpPeer, UdpPeer
from harness.tnginx.adapter import SuiteStage
from harness.tnginx.block import build_block, peers_of
from harness.tnginx.load import RawBlock, Regex, load_tfile
from harness.tnginx.peers import Peers
from harness.tnginx.peers import TcpPeer as TcpSpec
from harness.tnginx.peers import UdpPeer as UdpSpec

needs_perl = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")


def b64(*pieces: bytes) -> list[str]:
    return [base64.b64encode(p).decode() for p in pieces]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw(**sections) -> RawBlock:
    return RawBlock("TEST 1: x", 1, {"config": "", "request": "GET /t", **sections})


# ---- the block's sections ------------------------------------------------------------------------
def test_tcp_sections_become_one_peer():
    peers, cannot = peers_of(raw(tcp_listen="12345\n", tcp_reply=["a", "b"], tcp_query="hi\n", tcp_reply_delay="50ms",
                                 tcp_no_close="", tcp_query_len="3"))
    assert cannot == ()
    assert peers.tcp == TcpSpec(port=12345, reply=(b"a", b"b"), query=b"hi\n", query_len=3, reply_delay=0.05,
                                no_close=True)
    assert peers.udp is None and bool(peers)
    wire = peers.wire()["tcp"]
    assert wire["reply"] == b64(b"a", b"b") and wire["query_len"] == 3 and wire["no_close"] is True


def test_tcp_query_sets_how_much_the_peer_reads_unless_tcp_query_len_does():
    assert TcpSpec(port=1, reply=(), query=b"12345").wire()["query_len"] == 5
    assert TcpSpec(port=1, reply=(), query=b"12345", query_len=2).wire()["query_len"] == 2
    assert TcpSpec(port=1, reply=(), query=Regex("x")).wire()["query_len"] is None  # one read
    auto = peers_of(raw(tcp_listen="1", tcp_reply="", tcp_query_auto_timeout=""))[0].tcp
    assert auto is not None and auto.auto_timeout == 0.1  # Test::Nginx's default


def test_udp_sections_and_what_cannot_run():
    peers, cannot = peers_of(raw(udp_listen="1953", udp_reply=["x", "y"], udp_query="q", udp_reply_delay="1"))
    assert peers.udp == UdpSpec(port=1953, reply=(b"x", b"y"), query=b"q", reply_delay=1.0) and cannot == ()
    peers, cannot = peers_of(raw(tcp_listen="/tmp/a.sock", tcp_reply="x"))
    assert not peers and "tcp_listen (a unix socket outside /harness/html/" in cannot[0]
    peers, cannot = peers_of(raw(tcp_listen="/harness/html/a.sock", tcp_reply="x"))  # $TEST_NGINX_HTML_DIR
    assert peers.tcp == TcpSpec(port=0, path="/harness/html/a.sock", reply=(b"x",)) and cannot == ()
    peers, cannot = peers_of(raw(udp_listen="/harness/html/a.sock", udp_reply="x"))
    assert not peers and "udp_listen (a datagram unix socket" in cannot[0]
    peers, cannot = peers_of(raw(udp_listen="1953", udp_reply="CODE(0x55d0c0ffee00)"))  # perl answers at run time
    assert peers.udp == UdpSpec(port=1953, reply=(), ask=True) and peers.asks and cannot == ()
    peers, cannot = peers_of(raw(tcp_listen="1953", tcp_reply="CODE(0x55d0c0ffee00)"))
    assert peers.tcp == TcpSpec(port=1953, reply=(), ask=True) and peers.asks and cannot == ()


def test_a_listen_without_reply_is_the_blocks_error_and_no_section_is_unsupported_any_more():
    block = build_block(raw(tcp_listen="1"), repeats=1, log_level="debug", workers=1, no_root_location=False,
                        env_to_nginx=[], label="x")
    assert "tcp_listen without tcp_reply" in block.error
    block = build_block(raw(tcp_listen="1", tcp_shutdown="1", udp_listen="2", udp_reply="x"), repeats=1,
                        log_level="debug", workers=1, no_root_location=False, env_to_nginx=[], label="x")
    assert block.error == "" and block.unsupported == () and block.peers.tcp.shutdown == 1  # type: ignore[union-attr]


@needs_perl
def test_the_shim_expands_test_nginx_variables_in_listen_targets(tmp_path):
    t = tmp_path / "t"
    t.mkdir()
    (t / "x.t").write_text("use Test::Nginx::Socket::Lua;\n$ENV{TEST_NGINX_PEER} = 4242;\nrun_tests();\n__DATA__\n"
                           + textwrap.dedent("""
        === TEST 1: x
        --- config
        --- tcp_listen: $TEST_NGINX_PEER
        --- tcp_reply eval
        ["a", "b"]
        --- udp_listen: $TEST_NGINX_PEER
        --- udp_reply eval
        sub { "echo: $_[0]" }
        """))
    sections = load_tfile(t / "x.t").blocks[0].sections
    peers, cannot = peers_of(RawBlock("x", 1, sections))
    assert peers.tcp == TcpSpec(port=4242, reply=(b"a", b"b"))
    assert peers.udp == UdpSpec(port=4242, reply=(), ask=True) and cannot == ()  # perl calls the sub at run time


# ---- the checks on what the peers received ---------------------------------------------------------
def seen(tcp: bytes = b"", udp: bytes = b"") -> dict:
    return {"tcp": {"query": base64.b64encode(tcp).decode()}, "udp": {"query": base64.b64encode(udp).decode()}}


def test_checks_say_what_the_peer_got_and_what_was_expected():
    peers = Peers(TcpSpec(port=1, query=b"hello\n", query_len=6), UdpSpec(port=2, query=b"ping"))
    assert peers.check(seen(b"hello\n", b"ping")) == []
    assert peers.check(seen(b"howdy\n", b"pong"), repetition=1) == [
        "tcp_query (repetition 2): got 'howdy\\n', expected 'hello\\n'",
        "udp_query (repetition 2): got 'pong', expected 'ping'"]
    assert peers.check(seen(b"hello")) == ["tcp_query: got 'hello', expected 'hello\\n'",
                                           "tcp_query_len: got 5 bytes, expected 6", "udp_query: got 'pong', expected 'ping'"][:2] \
        + ["udp_query: got '', expected 'ping'"]
    like = Peers(TcpSpec(port=1, query=Regex(r"^GET /\w+")))
    assert like.check(seen(b"GET /abc HTTP/1.1")) == []
    assert like.check(seen(b"POST /")) == ["tcp_query: got 'POST /', expected to match /^GET /\\w+/"]
    assert Peers(TcpSpec(port=1, reply=())).check({}) == []  # nothing to check


# ---- the sidecar's peers, in this process --------------------------------------------------------
async def client(port: int, send: list[bytes], read_timeout: float = 2.0, pause: float = 0.0) -> tuple[bytes, str]:
    """Connect, send each piece, read until the peer closes; (data, "eof" or "timeout")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in send:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(pause)
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), read_timeout)
            if not chunk:
                return data, "eof"
            data += chunk
    except asyncio.TimeoutError:
        return data, "timeout"
    finally:
        writer.close()


def run(coro):
    return asyncio.run(coro)


def test_tcp_peer_reads_the_query_length_then_replies_in_pieces_and_closes():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "query_len": 10, "reply": b64(b"first,", b"second")})
        await peer.start()
        data, end = await client(port, [b"01234", b"56789"], pause=0.05)
        return data, end, await peer.stop()
    data, end, saw = run(scenario())
    assert (data, end) == (b"first,second", "eof")
    assert base64.b64decode(saw["query"]) == b"0123456789" and saw["accepted"] == 1 and saw["replied"]


def test_tcp_peer_on_a_unix_socket_replaces_an_old_file_and_lets_anyone_connect(tmp_path):
    path = tmp_path / "peer.sock"
    path.write_text("an old socket file")

    async def scenario():
        peer = TcpPeer({"path": str(path), "reply": b64(b"unix")})
        await peer.start()
        mode = path.stat().st_mode & 0o777
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"q")
        data = await asyncio.wait_for(reader.read(), 2)
        writer.close()
        return mode, data, await peer.stop()
    mode, data, saw = run(scenario())
    assert mode == 0o777 and data == b"unix" and base64.b64decode(saw["query"]) == b"q"


def test_tcp_peer_without_a_length_replies_after_one_read_and_delays_its_reply():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "reply": b64(b"late"), "reply_delay": 0.3})
        await peer.start()
        started = time.monotonic()
        data, end = await client(port, [b"x"])
        return data, end, time.monotonic() - started, await peer.stop()
    data, end, took, saw = run(scenario())
    assert (data, end) == (b"late", "eof") and took >= 0.3 and base64.b64decode(saw["query"]) == b"x"


def test_tcp_peer_no_close_keeps_the_connection_until_the_repetition_ends():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "reply": b64(b"open"), "no_close": True})
        await peer.start()
        data, end = await client(port, [b"x"], read_timeout=0.3)
        return data, end, await peer.stop()
    data, end, _ = run(scenario())
    assert (data, end) == (b"open", "timeout")


def test_tcp_peer_shutdown_of_its_write_side_ends_the_clients_read_at_once():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "reply": None, "shutdown": 1})
        await peer.start()
        return await client(port, [], read_timeout=1.0), await peer.stop()
    (data, end), saw = run(scenario())
    assert (data, end) == (b"", "eof") and saw["accepted"] == 1


def test_tcp_peer_serves_one_connection_a_second_one_waits_unanswered():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "reply": b64(b"one")})
        await peer.start()
        first = await client(port, [b"a"])
        second = await client(port, [b"b"], read_timeout=0.3)
        return first, second, await peer.stop()
    first, second, saw = run(scenario())
    assert first == (b"one", "eof") and second == (b"", "timeout") and saw["accepted"] == 1


def test_tcp_peer_auto_timeout_reads_until_the_client_is_quiet():
    async def scenario():
        port = free_port()
        peer = TcpPeer({"port": port, "reply": b64(b"ok"), "auto_timeout": 0.2})
        await peer.start()
        data = await client(port, [b"a", b"b", b"c"], pause=0.05)
        return data, await peer.stop()
    data, saw = run(scenario())
    assert data == (b"ok", "eof") and base64.b64decode(saw["query"]) == b"abc"


def test_udp_peer_answers_the_first_datagram_with_each_reply_in_order():
    async def scenario():
        port = free_port(socket.SOCK_DGRAM)
        peer = UdpPeer({"port": port, "reply": b64(b"one", b"two"), "reply_delay": 0.2})
        await peer.start()
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        started = time.monotonic()
        await loop.sock_sendall(sock, b"ping")
        got = [await asyncio.wait_for(loop.sock_recv(sock, 100), 2), await asyncio.wait_for(loop.sock_recv(sock, 100), 2)]
        took = time.monotonic() - started
        await loop.sock_sendall(sock, b"again")  # later datagrams are left unread
        await asyncio.sleep(0.05)
        sock.close()
        return got, took, await peer.stop()
    got, took, saw = run(scenario())
    assert got == [b"one", b"two"] and took >= 0.2
    assert base64.b64decode(saw["query"]) == b"ping" and saw["datagrams"] == 2


# ---- the companion: forwards, peers on a forward's port, the API -----------------------------------
async def echo_server() -> tuple[asyncio.base_events.Server, int]:
    async def echo(reader, writer):
        writer.write(b"upstream: " + await reader.read(100))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_forwards_reach_the_upstream_and_a_peer_on_their_port_has_it_for_the_repetition():
    async def scenario():
        server, upstream = await echo_server()
        port = free_port()
        companion = Companion()
        code, table = await companion.route("PUT", ["forwards"], {"redis": [port, "127.0.0.1", upstream]})
        assert code == 200 and isinstance(table, dict) and table["redis"]["listen"] == f"127.0.0.1:{port}"
        forwarded = await client(port, [b"ping"])
        code, _ = await companion.route("POST", ["peers"], {"tcp": {"port": port, "reply": b64(b"mock")}, "udp": None})
        mocked = await client(port, [b"ping"])
        code2, saw = await companion.route("POST", ["peers", "collect"], {})
        again = await client(port, [b"ping"])
        await companion.set_forwards({})
        server.close()
        return code, forwarded, mocked, code2, saw, again
    code, forwarded, mocked, code2, saw, again = run(scenario())
    assert forwarded == (b"upstream: ping", "eof")
    assert code == 200 and mocked == (b"mock", "eof") and code2 == 200
    assert base64.b64decode(saw["tcp"]["query"]) == b"ping" and saw["udp"] is None
    assert again == (b"upstream: ping", "eof")  # the forward is back


def test_a_port_that_cannot_be_had_is_a_409_and_leaves_no_peer():
    async def scenario():
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        companion = Companion()
        code, answer = await companion.route("POST", ["peers"], {"tcp": {"port": taken.getsockname()[1], "reply": []}})
        taken.close()
        return code, answer, companion.tcp, await companion.route("GET", ["nope"], {})
    code, answer, left, unknown = run(scenario())
    assert code == 409 and "cannot listen" in answer["error"] and left is None and unknown[0] == 404


# ---- which blocks need the companion -----------------------------------------------------------
class FakeServices:
    def __init__(self, env: dict) -> None:
        self.all = env

    def env(self, names) -> dict:
        """The env of the declared services only (as SessionServices gives it)."""
        return {k: v for k, v in self.all.items() if k.split("_")[0].lower() in names}


class FakeStage:
    def __init__(self, env: dict) -> None:
        self.services = FakeServices(env)


def suite_with(env: dict, overrides: dict | None = None) -> SuiteStage:
    suite = SuiteStage.__new__(SuiteStage)
    suite.stage = FakeStage(env)  # type: ignore[assignment]
    suite.env = dict(overrides or {})
    return suite


def block_with(config: str, test_env: dict | None = None) -> Any:
    from harness.tnginx.adapter import services_of

    env = test_env or {"TEST_NGINX_REDIS_PORT": "${REDIS_PORT}"}
    return SimpleNamespace(fixture=SimpleNamespace(snippets={"server.conf": config}), test_env=env, peers=Peers(),
                           named_services=tuple(sorted(services_of(config, env))), code=config, local_client=False)


def test_a_block_that_looks_for_redis_on_127_0_0_1_gets_a_forward_to_the_sessions_redis():
    suite = suite_with({"REDIS_HOST": "172.18.0.2", "REDIS_PORT": "6379", "DNS_SERVER": "172.18.0.3"})
    assert suite.local_services(block_with('red:connect("127.0.0.1", ${REDIS_PORT})')) == \
        {"redis": (6379, "172.18.0.2", 6379)}
    assert suite.local_services(block_with('red:connect("${REDIS_HOST}", ${REDIS_PORT})')) == {}  # no local name
    assert suite.local_services(block_with('sock:connect("127.0.0.1", 1234)')) == {}
    # a port the file set itself; and a run-wide fault's proxy in front of Redis
    faulted = suite_with({"REDIS_HOST": "172.18.0.2", "REDIS_PORT": "6379"}, {"REDIS_HOST": "172.18.0.9"})
    assert faulted.local_services(block_with('connect("127.0.0.1", 6380)', {"TEST_NGINX_REDIS_PORT": "6380"})) == \
        {"redis": (6380, "172.18.0.9", 6379)}
    # memcached once the stage has one
    both = suite_with({"MEMCACHED_HOST": "172.18.0.4", "MEMCACHED_PORT": "11211"})
    assert both.local_services(block_with('connect("127.0.0.1", ${MEMCACHED_PORT})')) == \
        {"memcached": (11211, "172.18.0.4", 11211)}


def test_the_sidecars_are_a_package_the_companion_imports_from(tmp_path):
    from harness.containers.companion import CompanionContainer

    assert CompanionContainer.modules == ("fault_proxy.py",)
    assert CompanionContainer.capabilities == ("NET_BIND_SERVICE",)
    sidecars = Path(__file__).resolve().parents[2] / "harness" / "sidecars"
    assert "from harness.sidecars.fault_proxy import Json, Proxy, json_api" in (sidecars / "companion.py").read_text()


def test_a_sentinel_suites_fixed_ports_forward_to_the_topologys_members():
    """lua-resty-redis-connector's layout: Sentinels at 6390-6392, replicas at 6381/6382, and the
    master (the topology's, not the single Redis) behind the Redis port."""
    env = {"REDIS_HOST": "172.18.0.2", "REDIS_PORT": "6379",
           "REDIS_SENTINELS": "172.18.0.5:26379,172.18.0.6:26379,172.18.0.7:26379",
           "REDIS_SENTINEL_MASTER": "172.18.0.8:6379", "REDIS_SENTINEL_REPLICAS": "172.18.0.9:6379,172.18.0.10:6379"}
    suite = suite_with(env)
    suite.stage.services.env = lambda names: dict(env)  # type: ignore[method-assign]
    test_env = {"TEST_NGINX_REDIS_PORT": "${REDIS_PORT}", "TEST_NGINX_SENTINEL_PORT1": "6390",
                "TEST_NGINX_SENTINEL_PORT3": "6392", "TEST_NGINX_REDIS_PORT_SL2": "6382"}
    block = block_with('sentinels = {6390, 6392}; master = ${REDIS_PORT}; replica = 6382', test_env)
    assert block.named_services == ("redis", "redis_sentinel")
    assert suite.local_services(block) == {
        "redis": (6379, "172.18.0.8", 6379),
        "redis_sentinel:TEST_NGINX_SENTINEL_PORT1": (6390, "172.18.0.5", 26379),
        "redis_sentinel:TEST_NGINX_SENTINEL_PORT3": (6392, "172.18.0.7", 26379),
        "redis_sentinel:TEST_NGINX_REDIS_PORT_SL2": (6382, "172.18.0.10", 6379)}
    # no topology port named: the single Redis behind the Redis port, even with no host named
    # (a client library's default host is 127.0.0.1)
    plain = block_with('connector.new({port = ${REDIS_PORT}})')
    assert plain.named_services == ("redis",)
    assert suite.local_services(plain) == {"redis": (6379, "172.18.0.2", 6379)}
