"""The .t front end without Docker: the Perl shim's blocks, the block model, the log view."""
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.tnginx.block import build_block, empty_dicts_in_init, lua_first, nginx_version_matches, request_line
from harness.tnginx.items import is_t_file
from harness.tnginx.load import Regex, TFileError, load_tfile, selected
from harness.tnginx.logview import LogView, block_lines, grep
from harness.tnginx.runner import check_answer, check_log
from harness.wire import Answer

needs_perl = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
SUITE = Path(__file__).resolve().parent.parent / "tnginx"


def write_t(tmp_path: Path, body: str, preamble: str = "") -> Path:
    t = tmp_path / "t"
    t.mkdir(exist_ok=True)
    path = t / "x.t"
    path.write_text("use Test::Nginx::Socket::Lua;\n" + preamble + "run_tests();\n__DATA__\n" + textwrap.dedent(body))
    return path


@needs_perl
def test_shim_runs_the_suites_module_preprocessor_and_eval_sections():
    tfile = load_tfile(SUITE / "t" / "sections.t")
    assert tfile.repeat_each == 2 and tfile.root == SUITE
    first = tfile.blocks[0]
    assert first.name == "TEST 1: config, http_config eval with $pwd, the suite's own lib/, default request"
    assert f'lua_package_path "{SUITE}/lib/?.lua;;"' in first.sections["http_config"]
    assert first.sections["request"] == "GET /t" and first.sections["no_error_log"] == "[error]"
    assert first.sections["response_body"] == "hello, test\n"  # trim keeps one newline
    second = tfile.blocks[1]
    assert "howdy" in second.sections["config"]  # $TEST_NGINX_GREETING expanded
    third = tfile.blocks[2]
    assert third.sections["request"] == ["GET /a", "GET /b"]
    assert third.sections["response_body_like"][0] == Regex("^a$", "")


@needs_perl
def test_only_skip_last_and_filters(tmp_path):
    path = write_t(tmp_path, """
        === TEST 1: a
        --- config
        --- response_body chop
        abc
        === TEST 2: b
        --- SKIP
        === TEST 3: c
        --- LAST
        === TEST 4: d
        """)
    tfile = load_tfile(path)
    assert tfile.blocks[0].sections["response_body"] == "abc"
    assert [(b.number, why) for b, why in selected(tfile.blocks)] == [(1, ""), (2, "--- SKIP"), (3, "")]
    path.write_text(path.read_text().replace("=== TEST 4: d", "=== TEST 4: d\n--- ONLY"))
    assert [(b.number, why) for b, why in selected(load_tfile(path).blocks)][0] == (1, "another block has --- ONLY")


@needs_perl
def test_a_file_that_does_not_compile_is_one_line(tmp_path):
    path = write_t(tmp_path, "=== TEST 1\n", preamble="this is not perl;\n")
    with pytest.raises(TFileError, match="perl could not run the file"):
        load_tfile(path)


@needs_perl
def test_block_model(tmp_path):
    path = write_t(tmp_path, """
        === TEST 1: post
        --- http_config
            init_worker_by_lua_block { ngx.log(ngx.INFO, "w") }
        --- config
            location = /t { return 200; }
        --- request
        POST /t
        hi
        --- more_headers
        X-A: 1
        --- error_code: 201
        --- user_files
        >>> a.txt
        A
        """)
    raw = load_tfile(path).blocks[0]
    block = build_block(raw, repeats=2, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                        label="x")
    data = block.requests[0].packets[0].data
    assert data.startswith(b"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-A: 1\r\n")
    assert data.endswith(b"Content-Length: 2\r\n\r\nhi")  # outer whitespace goes, as in Test::Nginx
    assert block.expects[0].status == 201
    assert block.fixture.files["html/a.txt"] == b"A\n" and block.fixture.embed
    assert "heartbeat.lua" not in block.fixture.snippets["http.conf"] and block.fixture.quiet
    assert "location / {" in block.fixture.snippets["server.conf"]


@needs_perl
def test_block_config_lands_on_test_nginx_lines(tmp_path):
    """main_config, http_config and config start on the lines Test::Nginx writes them to, so a Lua
    chunk name such as content_by_lua(nginx.conf:43) reads the same under both."""
    from harness.images.profiles import OPENRESTY_PROFILES
    from harness.nginx_conf import RenderOptions, render_nginx_conf

    path = write_t(tmp_path, """
        === TEST 1: layout
        --- main_config
        env MAIN_MARK;
        --- http_config
        lua_package_path "/x/?.lua;;";
        lua_shared_dict http_mark 1m;
        init_by_lua_block { local x = 1 }
        --- config
        location = /t {
            content_by_lua_block { ngx.say("x") }
        }
        """)
    block = build_block(load_tfile(path).blocks[0], repeats=1, log_level="debug", workers=1,
                        no_root_location=False, env_to_nginx=[], label="x")
    fixture = block.fixture
    for profile in OPENRESTY_PROFILES.values():  # the official image's and the twins' (their modules differ)
        conf = render_nginx_conf(fixture, profile, 1, RenderOptions(), filled=dict(fixture.snippets))
        lines = conf.split("\n")
        assert lines[15] == "env MAIN_MARK;"  # line 16, as Test::Nginx's (after its load_module line)
        assert lines[25].endswith('lua_package_path "/x/?.lua;;";')  # line 26
        assert lines[26] == "lua_shared_dict http_mark 1m;"
        assert lines[42].endswith("location = /t {")  # line 43
        assert conf.count("events {") == 1 and "heartbeat.lua" not in conf  # quiet: no harness Lua in workers
        assert conf.count("lua_package_path") == 1  # the block's own, though not first on its line


def test_request_line_defaults_and_comments():
    assert request_line("# a comment\nGET") == ("GET", "/", "HTTP/1.1", b"")
    assert request_line("GET /x HTTP/1.0") == ("GET", "/x", "HTTP/1.0", b"")


def test_code_goes_first_into_the_blocks_own_lua_directive():
    assert lua_first("init_worker_by_lua 'x()';", "init_worker_by_lua", "y() ") == "init_worker_by_lua 'y() x()';"
    assert lua_first('init_worker_by_lua "x()";', "init_worker_by_lua", 'f("a") ') == "init_worker_by_lua \"f('a') x()\";"
    assert lua_first("lua_shared_dict d 1m;", "init_worker_by_lua", "y() ") is None
    assert lua_first("# init_worker_by_lua_block { x() }", "init_worker_by_lua", "y() ") is None


def test_shared_dicts_are_emptied_before_the_blocks_own_init():
    own = empty_dicts_in_init("lua_shared_dict d 1m;\ninit_by_lua_block {\n  ngx.shared.d:set('k', 1)\n}\n")
    assert own.split("\n")[1].startswith("init_by_lua_block { for name, dict in pairs(ngx.shared)")
    assert own.count("\n") == 4 and own.count("init_by_lua") == 1  # the block's lines keep their numbers
    added = empty_dicts_in_init("lua_shared_dict d 1m;\n")
    assert added.split("\n")[1].startswith("init_by_lua_block {") and "flush_expired" in added
    assert empty_dicts_in_init("init_by_lua_file x.lua;\n") == "init_by_lua_file x.lua;\n"


def test_nginx_version_conditions():
    assert nginx_version_matches("2: < 1.23.0", 1022001)
    assert not nginx_version_matches("2: >= 1.23.0", 1022001)
    assert nginx_version_matches("1: < 1.0.0 or > 1.20.0", 1022001)


LOG = """2026/12/02 05:00:48 [debug] 10#10: *4 http request line: "GET /__harness/log?since=0 HTTP/1.1"
2026/12/02 05:00:48 [debug] 10#10: *4 http finalize request
2026/12/02 05:00:48 [debug] 10#10: *13 [lua] heartbeat.lua:14: harness heartbeat
2026/12/02 05:00:48 [debug] 10#10: *13 lua run thread
2026/12/02 05:00:48 [debug] 10#10: fetching key "hb:0" in shared dict "harness_control"
2026/12/02 05:00:48 [warn] 10#10: *20 [lua] content_by_lua(nginx.conf:40):2: mine, client: 1.2.3.4
2026/12/02 05:00:48 [error] 9#9: *2 old generation's line
2026/12/02 05:00:48 [notice] 1#1: signal 17 (SIGCHLD) received
"""


def test_log_view_drops_old_workers_and_the_harness_own_lines():
    lines = block_lines(LOG, {10, 1})
    assert [ln.split(": ", 1)[1] for ln in lines] == [
        "*20 [lua] content_by_lua(nginx.conf:40):2: mine, client: 1.2.3.4", "signal 17 (SIGCHLD) received"]
    assert grep(Regex(r"mi\w+"), lines) == "mine\n"


def test_log_view_drops_the_previous_blocks_socket_going_away():
    view = LogView(None)
    text = ("2026/12/02 10:14:25 [warn] 1#1: deleting socket /harness/html/nginx.sock\n"
            "2026/12/02 10:14:25 [warn] 1#1: deleting socket /srv/other.sock\n")
    assert view.lines(text) == ["2026/12/02 10:14:25 [warn] 1#1: deleting socket /srv/other.sock"]


def test_checks_report_what_differs():
    answer = Answer(status=500, body=b"x", headers=[("X-A", "1")])
    from harness.tnginx.block import Expect, LogExpect
    failures = check_answer(Expect(status=200, body=b"y\n", headers=(("X-A", "2"), ("X-B", None))), answer, 0, 0)
    assert len(failures) == 3
    closed = Answer(status=None, body=b"", headers=[])
    assert check_answer(Expect(status=None, body=b"", no_response=True), closed, 0, 0) == []  # error_code empty
    assert check_answer(Expect(status=200), closed, 0, 0) == ["request 1: no response (closed)"]
    assert check_answer(Expect(status=Regex("^(?:500)?$"), body=b""), closed, 0, 0) == []  # "" matches
    assert check_answer(Expect(status=None, body=b"x", no_response=True), closed, 0, 0) == [
        "request 1: response_body '', expected 'x'"]
    assert check_log(LogExpect(present=("nothere",), absent=(Regex("mi.e"),)), ["mine"], 1) == [
        "error_log (repetition 2): no line matches 'nothere'",
        "no_error_log (repetition 2): Regex(pattern='mi.e', flags='') found in: mine"]


def test_t_files_are_collected_below_t_paths(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "other").mkdir()
    assert is_t_file(tmp_path / "t" / "a.t", tmp_path, "t")
    assert not is_t_file(tmp_path / "other" / "a.t", tmp_path, "t")
    assert is_t_file(tmp_path / "other" / "a.t", tmp_path, "t,./other")


def test_run_fault_spelling():
    """`--harness-fault` speaks the fault registry's vocabulary; a run holds only lasting faults of
    Redis, the DNS server or the proxy in front of Redis."""
    from harness.errors import HarnessError
    from harness.tnginx.faults import parse

    assert parse("") is None
    latency = parse("proxy.latency:ms=50")
    assert latency is not None and (latency.kind, latency.ms, latency.route) == ("proxy.latency", 50, "redis")
    servfail = parse("dns.servfail")
    assert servfail is not None and (servfail.kind, servfail.host) == ("dns.servfail", "*")
    with pytest.raises(HarnessError, match="fault redis.slow needs 'ms'"):
        parse("redis.slow")
    with pytest.raises(HarnessError, match="unknown fault 'redis.latency=50'"):
        parse("redis.latency=50")
    for instant_or_worker in ("redis.restart", "worker.stop", "proxy.down:route=upstream"):
        with pytest.raises(HarnessError, match="a run holds one of"):
            parse(instant_or_worker)


def test_log_view_remembers_the_harness_connections_and_drops_the_heartbeat_timer():
    from harness.tnginx.logview import LogView

    view = LogView({10})
    first = ('2026/12/02 05:00:48 [debug] 10#10: *4 http request line: "GET /__harness/log?since=0 HTTP/1.1"\n'
             "2026/12/02 05:00:48 [debug] 10#10: *5 lua reusing cached lua thread (the block's)\n")
    later = ("2026/12/02 05:00:48 [debug] 10#10: *4 lua reusing cached lua thread (the read's, after it)\n"
             "2026/12/02 05:00:48 [debug] 10#10: lua ngx.timer expired\n"
             "2026/12/02 05:00:48 [debug] 10#10: created next timer (co: 1 delay: 10 ms)\n"
             "2026/12/02 05:00:48 [debug] 10#10: *13 [lua] heartbeat.lua:14: harness heartbeat\n"
             "2026/12/02 05:00:48 [debug] 10#10: *5 lua caching unused lua thread\n")
    assert [ln.split(": ", 1)[1] for ln in view.lines(first)] == ["*5 lua reusing cached lua thread (the block's)"]
    assert [ln.split(": ", 1)[1] for ln in view.lines(later)] == ["*5 lua caching unused lua thread"]


def test_harness_t_counts_each_block_once_by_its_worst_phase():
    """A block whose call passed and whose teardown failed (the log-problem check, say) is one failed block."""
    from types import SimpleNamespace

    from harness.tnginx.cli import Tally

    tally = Tally()
    phases = [("a.t::TEST 1", "call", "passed"), ("a.t::TEST 1", "teardown", "failed"),
              ("a.t::TEST 2", "setup", "skipped"), ("a.t::TEST 2", "teardown", "passed"),
              ("a.t::TEST 3", "setup", "passed"), ("a.t::TEST 3", "call", "passed")]
    causes = {("a.t::TEST 2", "setup"): "unsupported section: tcp_listen"}
    for nodeid, when, outcome in phases:
        cause = causes.get((nodeid, when))
        tally.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, duration=0.1,
                                                       passed=outcome == "passed",
                                                       user_properties=[("cause", cause)] if cause else []))
    assert tally.blocks == {"a.t::TEST 1": "failed", "a.t::TEST 2": "skipped", "a.t::TEST 3": "passed"}
    counts = tally.files["a.t"]
    assert (counts.passed, counts.failed, counts.skipped) == (1, 1, 1)
    assert tally.causes == {"a.t::TEST 2": "unsupported section: tcp_listen"}
    assert tally.lines()[-2:] == ["blocks that did not run as under prove, by cause:",
                                  "      1  unsupported section: tcp_listen"]


@needs_perl
def test_an_init_by_lua_block_section_a_preprocessor_spliced_in_is_written_once(tmp_path):
    """Test::Nginx writes no init_by_lua_block section itself (suites' preprocessors splice it into
    http_config); the harness adds it only where http_config has no init_by_lua yet."""
    block = "--- init_by_lua_block\nngx.say_hi = true\n--- config\nlocation = /t { return 204; }\n--- request\nGET /t\n"
    spliced = write_t(tmp_path, f"=== TEST 1: spliced by the preprocessor\n{block}\n=== TEST 2: left to the harness\n{block}",
                      preamble="""add_block_preprocessor(sub {
    my $block = shift;
    return unless $block->name =~ /spliced/;
    my $init = $block->init_by_lua_block || '';
    $block->set_value("http_config", "init_by_lua_block {\\n    $init\\n}\\n");
});
""")
    blocks = [build_block(raw, repeats=1, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                          label=f"x-{raw.number}") for raw, _ in selected(load_tfile(spliced).blocks)]
    for block in blocks:
        http = block.fixture.snippets["http.conf"]
        assert http.count("init_by_lua_block") == 1 and "ngx.say_hi = true" in http, http


def _requests(**sections):
    from harness.tnginx.block import requests_of
    from harness.tnginx.load import RawBlock
    return requests_of(RawBlock("x", 1, sections))


def test_a_chunked_request_body_is_sent_as_written():
    body = "5\r\nhello\r\n0\r\n\r\n"
    [request] = _requests(request=f"POST /t\n{body}", more_headers="Transfer-Encoding: chunked\n")
    data = request.packets[0].data
    assert data.endswith(b"Transfer-Encoding: chunked\r\n\r\n" + body.encode()) and b"Content-Length" not in data


def test_more_headers_as_test_nginx_writes_them():
    [request] = _requests(request="GET /t", more_headers="# a comment\nHost:   example.com\nConnection: upgrade\nX-Empty\n")
    assert request.packets[0].data == (b"GET /t HTTP/1.1\r\nHost: example.com\r\nConnection: upgrade\r\n"
                                       b"X-Empty: \r\n\r\n")  # the block's Host and Connection replace ours
    [given] = _requests(request="POST /t\n  hi  \n", more_headers="Content-Length: 6")
    assert given.packets[0].data.endswith(b"Content-Length: 6\r\n\r\n  hi  \n")  # its own length: not trimmed


def test_pipelined_requests_with_their_own_headers_and_a_middle_delay():
    [pipe] = _requests(pipelined_requests=["GET /a", "GET /b"], more_headers=["X-N: 1", "X-N: 2"])
    data = pipe.packets[0].data
    assert pipe.answers == 2 and data.count(b"Connection: keep-alive") == 1 and data.endswith(b"X-N: 2\r\n\r\n")
    [raw] = _requests(raw_request=["GET / HTTP/1.0\r\n", {"value": "\r\n", "delay_before": 0.5}, "x"],
                      raw_request_middle_delay="0.1")
    assert [p.delay_before for p in raw.packets] == [0.0, 0.5, 0.1]


def test_shutdown_section_and_timed_out_answers_are_still_checked(tmp_path):
    from harness.tnginx.block import Expect
    from harness.tnginx.load import RawBlock
    block = build_block(RawBlock("x", 1, {"request": "GET /t", "shutdown": ""}), repeats=1, log_level="debug",
                        workers=1, no_root_location=False, env_to_nginx=[], label="x")
    assert block.shutdown == 1
    partial = Answer(status=200, body=b"par", timed_out=True, error="no last chunk found")
    assert check_answer(Expect(status=200, body=b"part"), partial, 0, 0) == [
        "request 1: no last chunk found", "request 1: response_body 'par', expected 'part'"]


def test_service_placeholders_in_log_expectations_get_the_containers_values():
    from harness.tnginx.load import Regex
    from harness.tnginx.runner import filled

    values = {"MEMCACHED_PORT": "11211"}
    assert filled('pool for key "127.0.0.1:${MEMCACHED_PORT}"', values) == 'pool for key "127.0.0.1:11211"'
    assert filled("${UNKNOWN} stays", values) == "${UNKNOWN} stays"
    regex = Regex(pattern=r"port \d+")
    assert filled(regex, values) is regex


@needs_perl
@pytest.mark.parametrize("code, skipped", [("1 + 1 == 2", True), ("1 + 1 == 3", False), ('system("false") ne 0', True),
                                           ('system("true") ne 0', False), ("0", False), ("'yes'", True)])
def test_skip_eval_skips_only_when_its_code_is_true_for_perl(tmp_path, code, skipped):
    path = write_t(tmp_path, f"""
        === TEST 1: a
        --- skip_eval: 1: {code}
        --- config
        """)
    block = build_block(load_tfile(path).blocks[0], repeats=1, log_level="debug", workers=1,
                        no_root_location=False, env_to_nginx=[], label="x")
    assert block.skip_eval is skipped
