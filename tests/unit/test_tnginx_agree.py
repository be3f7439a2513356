"""What Test::Nginx does that `harness t` must do too, on the pure parts (issue 24): Perl truth of
skip_eval, check_accum_error_log's window."""
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.tnginx.block import build_block
from harness.tnginx.load import load_tfile, perl_true

needs_perl = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")


def write_t(tmp_path: Path, body: str, preamble: str = "") -> Path:
    t = tmp_path / "t"
    t.mkdir(exist_ok=True)
    path = t / "x.t"
    path.write_text("use Test::Nginx::Socket::Lua;\n" + preamble + "run_tests();\n__DATA__\n" + textwrap.dedent(body))
    return path


def build(raw, **kwargs):
    return build_block(raw, repeats=2, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                       label="x", **kwargs)


def test_perl_truth_of_what_the_shim_hands_over():
    assert [perl_true(v) for v in (None, "", "0", False)] == [False] * 4
    assert [perl_true(v) for v in ("1", "0.0", "00", " ", "linux", 1, True)] == [True] * 7


@needs_perl
def test_a_skip_eval_that_is_false_in_perl_runs_the_block(tmp_path):
    path = write_t(tmp_path, """
        === TEST 1: false on every OS
        --- config
            location = /t { return 200; }
        --- skip_eval: 1: $^O eq 'no such os'
        === TEST 2: true
        --- config
            location = /t { return 200; }
        --- skip_eval: 1: $^O ne 'no such os'
        """)
    first, second = (build(raw) for raw in load_tfile(path).blocks)
    assert not first.skip_eval and second.skip_eval


@needs_perl
@pytest.mark.parametrize("preamble, env, accum", [
    ("", {}, False),
    ("check_accum_error_log();\n", {}, True),
    ("", {"TEST_NGINX_CHECK_ACCUM_ERR_LOG": "1"}, True),
])
def test_check_accum_error_log_is_read_from_the_preamble_or_the_environment(tmp_path, monkeypatch, preamble, env, accum):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write_t(tmp_path, """
        === TEST 1: one
        --- config
            location = /t { return 200; }
        """, preamble=preamble)
    tfile = load_tfile(path)
    assert perl_true(tfile.settings.get("check_accum_error_log")) is accum


# ---- udp_reply / tcp_reply given as a Perl sub: called with the query at run time -------------------
def test_a_companion_peer_that_asks_replies_what_the_harness_answers_for_its_query():
    import asyncio
    import base64
    import socket

    from harness.sidecars.companion import Companion

    async def scenario():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        companion = Companion()
        await companion.route("POST", ["peers"], {"udp": {"port": port, "ask": True}})
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        await loop.sock_sendall(sock, b"\x00\x2aquery")
        _, asked = await companion.route("POST", ["peers", "question"], {"wait": 2})
        await companion.route("POST", ["peers", "answer"], {"kind": "udp", "reply": [
            base64.b64encode(b"re:" + base64.b64decode(asked["query"])).decode()]})
        got = await asyncio.wait_for(loop.sock_recv(sock, 100), 2)
        sock.close()
        _, none = await companion.route("POST", ["peers", "question"], {"wait": 0.05})
        _, saw = await companion.route("POST", ["peers", "collect"], {})
        return asked, got, none, saw
    asked, got, none, saw = asyncio.run(scenario())
    assert asked["kind"] == "udp" and got == b"re:\x00\x2aquery" and none == {}
    assert saw["udp"]["replied"] is True


@needs_perl
def test_perl_answers_a_peers_query_with_the_blocks_sub_and_a_dying_sub_is_reported(tmp_path):
    from harness.tnginx.perlcalls import Answering, PerlCalls

    path = write_t(tmp_path, """
        === TEST 1: a sub of the file's own helpers
        --- config
        --- udp_listen: 1953
        --- udp_reply eval
        sub { my $id = unpack("n", shift); return [pack("n", $id), main::tail()] }
        === TEST 2: a sub that dies
        --- config
        --- tcp_listen: 1954
        --- tcp_reply eval
        sub { die "no reply for you\\n" }
        """, preamble='sub tail { "!" }\nprint "the file prints to stdout\\n";\n')

    class FakeCompanion:
        def __init__(self, questions):
            self.questions, self.answers = list(questions), []

        def question(self, wait):
            return self.questions.pop(0) if self.questions else None

        def answer(self, kind, reply):
            self.answers.append((kind, reply))

    calls = PerlCalls(path, tmp_path)
    try:
        one = FakeCompanion([("udp", b"\x12\x34rest")])
        answering = Answering(one, calls, 1)
        deadline = __import__("time").monotonic() + 30
        while not one.answers and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
        assert answering.stop() == [] and one.answers == [("udp", (b"\x12\x34", b"!"))]
        two = FakeCompanion([("tcp", b"x")])
        answering = Answering(two, calls, 2)
        while not two.answers and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
        errors = answering.stop()
        assert two.answers == [("tcp", None)] and "no reply for you" in errors[0], errors
    finally:
        calls.close()


# ---- the client's address: requests from 127.0.0.1 for blocks that look at it ----------------------
def test_a_block_observes_the_client_address_by_its_expectations_or_its_config():
    from harness.tnginx.block import observes_client_address
    from harness.tnginx.load import Regex

    assert observes_client_address({"error_log": "while connecting to upstream, client: 127.0.0.1"})
    assert observes_client_address({"error_log": [Regex(r"client: 127\.0\.0\.1, server")]})
    assert observes_client_address({"response_body": ["a", "Foo: 8.8.8.8, 127.0.0.1\n"]})
    assert observes_client_address({"config": "proxy_set_header Foo $proxy_add_x_forwarded_for;"})
    assert observes_client_address({"config": "content_by_lua_block { ngx.say(ngx.var.remote_addr) }"})
    assert not observes_client_address({"config": "proxy_pass http://127.0.0.1:$server_port/back;",
                                        "response_body": "ok\n", "no_error_log": "127.0.0.1"})


def test_the_companion_talks_to_a_server_of_its_namespace_as_the_raw_client_would():
    import asyncio
    import base64

    from harness.sidecars.companion import Companion
    from harness.wire import Packet, Received, exchange, talk

    async def scenario():
        async def serve(reader, writer):
            data = await reader.readuntil(b"\r\n\r\n")
            peer = writer.get_extra_info("peername")[0]
            body = f"{peer} {len(data)}".encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        _, got = await Companion().route("POST", ["talk"], {
            "host": "127.0.0.1", "port": port, "timeout": 2, "shutdown": None,
            "packets": [[base64.b64encode(request[:5]).decode(), 0], [base64.b64encode(request[5:]).decode(), 0.05]]})
        direct = await asyncio.to_thread(talk, "127.0.0.1", port, [Packet(request)], 2)
        server.close()
        return got, direct
    got, direct = asyncio.run(scenario())
    assert base64.b64decode(got["data"]) == direct.data and got["closed"] and not got["timed_out"]
    assert direct.data.endswith(b"127.0.0.1 %d" % len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))

    def fake_talker(host, port, packets, timeout, **kwargs):  # exchange parses what any talker read
        return Received(direct.data, True, False)
    answer, = exchange("ignored", 0, [Packet(b"GET / HTTP/1.1\r\n\r\n")], 1, talker=fake_talker)
    assert answer.status == 200 and answer.body.startswith(b"127.0.0.1 ")


@needs_perl
def test_a_user_file_with_an_absolute_name_goes_to_the_absolute_files_of_the_fixture(tmp_path):
    from harness.nginx_conf import ABSOLUTE_FILES

    path = write_t(tmp_path, """
        === TEST 1: files
        --- config
            include /tmp/x.conf;
        --- user_files
        >>> /tmp/x.conf
        location = /t { return 200; }
        >>> a/b.txt
        B
        """)
    block = build(load_tfile(path).blocks[0])
    assert block.fixture.files[f"{ABSOLUTE_FILES}/tmp/x.conf"] == b"location = /t { return 200; }\n"
    assert block.fixture.files["html/a/b.txt"] == b"B\n"


# ---- blocks whose verdict depends on their timers firing on time run alone -------------------------
@needs_perl
def test_a_block_racing_its_timers_runs_alone(tmp_path):
    from harness.tnginx.items import BlockJob

    path = write_t(tmp_path, """
        === TEST 1: a timer and a clock
        --- config
            location = /t { content_by_lua_block { local t = ngx.now() ngx.timer.at(0.05, function() print(ngx.now() - t) end) } }
        === TEST 2: a timer and a wait
        --- config
            location = /t { content_by_lua_block { ngx.timer.every(0.05, function() end) } }
        --- wait: 0.1
        === TEST 3: a timer alone
        --- config
            location = /t { content_by_lua_block { ngx.timer.at(0, function() end) } }
        === TEST 4: a sleep alone
        --- config
            location = /t { content_by_lua_block { ngx.sleep(0.01) } }
        === TEST 5: a mock peer's delay against the client's timeout
        --- config
            location = /t { return 200; }
        --- udp_listen: 19232
        --- udp_reply: hello
        --- udp_reply_delay: 45ms
        """)
    blocks = [build(raw) for raw in load_tfile(path).blocks]
    assert [b.timed for b in blocks] == [True, True, False, False, True]
    jobs = [BlockJob(f"k{b.number}", None, b, 1) for b in blocks]  # runner: not used by `quiet`
    assert [j.quiet for j in jobs] == [True, True, False, False, True]  # alone, nothing prepared meanwhile
    # nor prepared ahead: its workers' clocks start when it is switched to, just before its requests
    assert all(j.prepare() for j in jobs if j.block.timed)


def test_a_user_file_naming_a_placeholder_is_filled_when_its_generation_is_written(tmp_path):
    from harness.images.profiles import BOOKWORM_OPENRESTY
    from harness.nginx_conf import Fixture, RenderOptions, write_generation

    fx = Fixture("x", {"server.conf": "location = /t { return 200; }"},
                 files={"html/a.lua": b"connect(${MEMCACHED_PORT}) ${UNKNOWN}", "html/b.txt": b"${MEMCACHED_PORT}"},
                 filled=("html/a.lua",))
    gen = write_generation(tmp_path / "1", fx, BOOKWORM_OPENRESTY, 1, RenderOptions(placeholders={"MEMCACHED_PORT": "11211"}))
    assert (gen / "fixture/html/a.lua").read_bytes() == b"connect(11211) ${UNKNOWN}"
    assert (gen / "fixture/html/b.txt").read_bytes() == b"${MEMCACHED_PORT}"  # not named: as given


def test_a_services_variable_passed_by_env_keeps_its_placeholder_for_the_adapter_to_fill():
    from harness.tnginx.adapter import services_of
    from harness.tnginx.block import passed_env

    env = passed_env("env TEST_NGINX_MEMCACHED_PORT; env OTHER;", [], {"OTHER": "x"})
    assert env == {"TEST_NGINX_MEMCACHED_PORT": "${MEMCACHED_PORT}", "OTHER": "x"}
    assert "memcached" in services_of('sock:connect("127.0.0.1", os.getenv("TEST_NGINX_MEMCACHED_PORT"))', {})


# ---- error.log lines as Test::Nginx reads them: with their newline ----------------------------------
def test_a_pattern_sees_the_lines_newline_and_grep_leaves_out_a_match_that_took_it():
    from harness.tnginx.load import Regex
    from harness.tnginx.logview import grep, matches

    lines = ["mark: from the handle", "2026/12/04 [warn] 1#1: *1 mark: from nginx, client: 127.0.0.1"]
    assert grep(Regex(r"mark: [^,]*"), lines) == "mark: from nginx\n"
    assert grep(Regex(r"mark: [^,\n]*"), lines) == "mark: from the handle\nmark: from nginx\n"
    assert matches(Regex(r"handle\n"), lines[0]) == "handle\n" and matches(Regex(r"handle\z"), lines[0]) is None
    assert matches(Regex(r"handle$"), lines[0]) == "handle"
