"""What a .t file's environment gives it, without Docker: Test::Base filters with arguments, the
Stream module's blocks rendered, the image's nginx as Perl sees it, the suite's Lua dependencies,
and the cause classes of blocks that do not run as under prove."""
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.tnginx.block import build_block
from harness.tnginx.image_nginx import perl_env
from harness.tnginx.load import load_tfile
from harness.tnginx.luadeps import LuaDeps, LuaPathError, template_dir
from harness.tnginx.reasons import Cause, CauseClass, missing_modules, of_failure
from harness.tnginx.runner import BlockRunner
from harness.tnginx.stream import lua_string, modules_needed, rendered, stream_port

needs_perl = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")

V_OUTPUT = """nginx version: nginx/1.99.7
built with OpenSSL 3.4.1 11 Feb 2025
TLS SNI support enabled
configure arguments: --prefix=/usr/share/nginx --with-debug --with-stream"""


def write_t(tmp_path: Path, text: str, name: str = "x.t") -> Path:
    t = tmp_path / "t"
    t.mkdir(exist_ok=True)
    path = t / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def build(raw, **kw):
    return build_block(raw, repeats=1, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                       label="x", **kw)


# --- Test::Base filters ---------------------------------------------------------------------

@needs_perl
def test_section_lines_with_filter_arguments_main_and_module_filters(tmp_path):
    path = write_t(tmp_path, r"""
        use Test::Nginx::Socket::Lua;
        sub wrap { my $with = filter_arguments; return "$with$_[0]$with" }
        sub shout { $_ = uc $_; return 1 }   # munges $_ and returns a number, as Test::Base allows
        sub Test::Base::Filter::dns {
            my ($self, $code) = @_;
            my $mode = $self->current_arguments // 'udp';
            return "$mode:" . $self->current_block->name . ":" . eval($code);
        }
        filters({ response_body => ['chomp'] });
        run_tests();
        __DATA__
        === TEST 1: args
        --- tcp_reply dns=tcp
        1 + 2
        --- udp_reply dns
        3
        --- request eval: "GET /t?n=" . (6 * 7)
        --- response_body wrap=| prepend=>
        ab
        --- error_log shout
        quiet
        --- no_error_log -trim +chomp
        x
        """)
    block = load_tfile(path).blocks[0].sections
    assert block["tcp_reply"] == "tcp:TEST 1: args:3"
    assert block["udp_reply"] == "udp:TEST 1: args:3"
    assert block["request"] == "GET /t?n=42"
    assert block["response_body"] == ">|ab|"  # norm, trim, then filters{}'s chomp, then the section's own
    assert block["error_log"] == "QUIET\n"
    assert block["no_error_log"] == "x"


@needs_perl
def test_a_filter_the_file_does_not_define_is_a_one_line_error(tmp_path):
    from harness.tnginx.load import TFileError

    path = write_t(tmp_path, """
        use Test::Nginx::Socket::Lua;
        run_tests();
        __DATA__
        === TEST 1
        --- request nosuchfilter=1
        GET /t
        """)
    with pytest.raises(TFileError, match="unknown filter 'nosuchfilter' in section 'request'"):
        load_tfile(path)


# --- the Stream module -------------------------------------------------------------------------

@needs_perl
def test_a_shared_module_that_uses_the_stream_module_loads_in_http_mode(tmp_path):
    (tmp_path / "t" / "Shared.pm").parent.mkdir(exist_ok=True)
    (tmp_path / "t" / "Shared.pm").write_text(textwrap.dedent("""
        package t::Shared;
        use Test::Nginx::Socket::Lua::Stream -Base;
        our @EXPORT = qw($Marker);
        our $Marker = "shared";
        add_block_preprocessor(sub { my $b = shift; $b->set_value(request => "GET /t") unless defined $b->request });
        1;
        """))
    path = write_t(tmp_path, """
        use t::Shared;
        use Test::Nginx::Util qw($ServerAddr);
        repeat_each(2);
        our $Addr = $ServerAddr;
        run_tests();
        __DATA__
        === TEST 1: http
        --- config
        location = /t { return 200 "$::Marker $::Addr"; }
        --- response_body eval: "$::Marker $::Addr"
        """)
    tfile = load_tfile(path)
    assert tfile.repeat_each == 2
    assert tfile.blocks[0].sections["response_body"] == "shared 127.0.0.1"
    assert tfile.blocks[0].sections["request"] == "GET /t"


def test_a_stream_block_is_rendered_as_the_stream_module_makes_it():
    sections = {"main_config": "env X;\n", "stream_config": "lua_shared_dict d 1m;\n",
                "stream_server_config": "content_by_lua_block { ngx.say(1) }\n",
                "stream_server_config2": "return done;\n", "stream_request": "hi\n\x01\"",
                "steam_listen_option2": "reuseport\n", "stream_response": "1\ndone", "error_log": "x"}
    out = rendered(sections, 8081)
    assert out["main_config"] == ("env X;\nstream {\nlua_shared_dict d 1m;\n\n"
                                  "    server {\n        listen 8081 ;\n\ncontent_by_lua_block { ngx.say(1) }\n\n    }\n"
                                  "    server {\n        listen 8082 reuseport;\n\nreturn done;\n\n    }\n}\n")
    assert out["request"] == "GET /t\n" and out["response_body"] == "1\ndone"
    assert "location = /t {" in out["config"] and "lua_socket_log_errors off;" in out["config"]
    assert out["config"].count('sock:connect("127.0.0.1", ') == 2 and "8082)" in out["config"]
    assert f"sock:send({lua_string(b'hi' + bytes([10, 1, 34]))})" in out["config"]
    assert out["config"].count("ngx.print(data)") == 2
    assert modules_needed(sections) == ("stream", "ngx_stream_lua")
    assert modules_needed({"stream_server_config": "return hi;"}) == ("stream",)
    assert modules_needed({"config": "location / {}"}) == ()
    # a main_config that writes its own stream {} (a TLS front for a backend, say) needs the module too
    proxy = "env X;\nstream {\n    server {\n        listen 127.0.0.1:1 ssl;\n        proxy_pass 127.0.0.1:2;\n    }\n}\n"
    assert modules_needed({"main_config": proxy}) == ("stream",)
    assert modules_needed({"main_config": proxy.replace("proxy_pass", "content_by_lua_block { } #")}) == \
        ("stream", "ngx_stream_lua")
    assert modules_needed({"main_config": "env upstream_stream {x};\nworker_rlimit_core 1m;"}) == ()


def test_stream_sections_abort_timeout_log_response_and_conflicts():
    out = rendered({"stream_server_config": "return x;", "abort": "", "timeout": "500ms",
                    "log_stream_response": "", "stream_response_like": "x", "request": "GET /x"}, 9000)
    assert "abort" not in out and "timeout" not in out and "sock:settimeout(500)" in out["config"]
    assert 'print("stream response: ", data)' in out["config"] and out["request"] == "GET /x"
    assert out["response_body_like"] == "x"
    assert rendered({"stream_response": "a"}, 1) == {"stream_response": "a", "response_body": "a"}
    block = build(RawLike({"stream_response": "a", "response_body": "b"}))
    assert block.error == "cannot read the block: conflicting stream_response and response_body sections"
    assert stream_port({"TEST_NGINX_STREAM_PORT": "1985"}, 1984) == 1985 and stream_port({}, 1984) == 1985


def test_lua_string_escapes_every_byte_lua_could_misread():
    assert lua_string(b'a"b\\c\n\xff') == '"a\\034b\\092c\\010\\255"'


def RawLike(sections):
    from harness.tnginx.load import RawBlock

    return RawBlock("TEST 1", 1, sections)


def test_a_block_needing_a_module_the_image_lacks_is_skipped_with_the_cause():
    block = build(RawLike({"stream_server_config": "content_by_lua_block { }", "stream_response": "x"}))
    assert block.needs_modules == ("stream", "ngx_stream_lua")

    class NoSuite:
        def openresty(self, block):
            raise AssertionError("a block the image cannot run must not ask for a container")

    result = BlockRunner(NoSuite(), present_modules=frozenset({"stream"})).run(block)  # type: ignore[arg-type]
    assert (result.verdict, result.cause) == ("skipped", "module missing in image: ngx_stream_lua")
    result = BlockRunner(NoSuite(), present_modules=frozenset()).run(  # type: ignore[arg-type]
        build(RawLike({"stream_server_config": "return x;"})))
    assert result.cause == "module missing in image: stream"
    unsupported = BlockRunner(NoSuite()).run(build(RawLike({"http2": "", "curl": "x"})))  # type: ignore[arg-type]
    assert (unsupported.verdict, unsupported.cause) == ("skipped", "unsupported section: curl, http2")


# --- the image's nginx, as Perl sees it ---------------------------------------------------------

def test_the_nginx_standin_answers_as_the_images_nginx(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    env = perl_env("sha256:0123456789abcdef0123", V_OUTPUT, path="/usr/bin:/bin")
    nginx = env["TEST_NGINX_BINARY"]
    assert env["PATH"].split(":")[0] == str(Path(nginx).parent) and str(tmp_path) in nginx
    big_v = subprocess.run([nginx, "-V"], capture_output=True, text=True)
    assert big_v.returncode == 0 and big_v.stderr == V_OUTPUT + "\n" and big_v.stdout == ""
    small_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True, env=env)
    assert small_v.stderr == "nginx version: nginx/1.99.7\n"
    other = subprocess.run([nginx, "-t"], capture_output=True, text=True)
    assert other.returncode == 1 and "only answers -V and -v" in other.stderr


@needs_perl
def test_preamble_skip_eval_and_versions_see_the_standin(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    path = write_t(tmp_path, r"""
        use Test::Nginx::Socket::Lua;
        our $V = `$Test::Nginx::Util::NginxBinary -V 2>&1`;
        our $Path = `nginx -v 2>&1`;
        our $Early = defined $Test::Nginx::Util::NginxVersion ? 'defined' : 'undef';
        run_tests();
        __DATA__
        === TEST 1
        --- skip_eval: 1: $::V =~ /--with-debug/
        --- response_body eval: join ",", $::Early, $Test::Nginx::Util::NginxVersion, $Test::Nginx::Util::NginxRawVersion, $Test::Nginx::Util::OpenSSLVersion, $Test::Nginx::Util::PcreVersion, $::Path

        === TEST 2: the short name, as suites write it (Test::Nginx evaluates in its Util package)
        --- skip_eval: 1: system("$NginxBinary -V 2>&1 | grep -q -- '--with-debug'") ne 0
        """)
    env = perl_env("sha256:feedfacefeedface", V_OUTPUT)
    block = load_tfile(path, env=env).blocks[0].sections
    assert block["skip_eval_result"] == "1"
    assert load_tfile(path, env=env).blocks[1].sections["skip_eval_result"] == "0"  # it has --with-debug
    assert block["response_body"] == "undef,1.099007,1.99.7,3.004001,2,nginx version: nginx/1.99.7\n"
    no_debug = perl_env("sha256:beefbeefbeef", V_OUTPUT.replace(" --with-debug", ""))
    assert load_tfile(path, env=no_debug).blocks[0].sections["skip_eval_result"] == "0"
    assert load_tfile(path, env=no_debug).blocks[1].sections["skip_eval_result"] == "1"


# --- the suite's Lua dependencies ---------------------------------------------------------------

def test_template_dir():
    assert template_dir("/x/lib/?.lua") == "/x/lib" and template_dir("/x/lib/?/init.lua") == "/x/lib"
    assert template_dir("./?.lua") == "" and template_dir("") == "" and template_dir("/?.lua") == ""


def test_lua_deps_mount_what_lua_path_names_and_add_lua_path_dirs(tmp_path):
    suite, a, b, c = (tmp_path / n for n in ("suite", "a", "b", "clib"))
    for d in (suite / "lib", a / "lib" / "sub", b, c):
        d.mkdir(parents=True)
    environ = {"LUA_PATH": f"{a}/lib/?.lua;{a}/lib/sub/?.lua;/usr/share/lua/5.1/?.lua;{suite}/lib/?.lua;"
                           f"{tmp_path}/missing/?.lua;./?.lua;;",
               "LUA_CPATH": f"{c}/?.so;;"}
    deps = LuaDeps.of(environ, [str(b)], inside=[suite])
    assert deps.lua_path == f"{b}/?.lua;{b}/?/init.lua;" + environ["LUA_PATH"]
    assert deps.dirs == tuple(sorted((str(a / "lib"), str(b), str(c)), key=len))  # not the image's, the suite's, a child
    assert deps.env() == {"LUA_PATH": deps.lua_path, "LUA_CPATH": environ["LUA_CPATH"]}
    assert set(deps.mounts()) == {(d, d) for d in deps.dirs}
    alone = LuaDeps.of({}, [str(b)])
    assert alone.lua_path == f"{b}/?.lua;{b}/?/init.lua;;" and alone.env() == {"LUA_PATH": alone.lua_path}
    assert LuaDeps.of({}).env() == {} and LuaDeps.of({}).dirs == ()
    with pytest.raises(LuaPathError, match="--lua-path .*nope: no such directory"):
        LuaDeps.of({}, [str(tmp_path / "nope")])


# --- causes --------------------------------------------------------------------------------------

def test_causes_of_a_failed_block():
    log = ["2026/12/04 [error] 7#7: *1 lua entry thread aborted: runtime error: content_by_lua(nginx.conf:40):2: "
           "module 'resty.openssl.pkey' not found:", "\tno field package.preload['resty.openssl.pkey']"]
    assert str(of_failure(log)) == "Lua module missing: resty.openssl.pkey"
    assert of_failure(["[error] 7#7: *1 send() failed", "agentzh.org could not be resolved (3: Host not found)"]) == \
        Cause(CauseClass.PUBLIC_NETWORK, "agentzh.org")
    assert str(of_failure(['connect() to 1.2.3.4:80 failed (101: Network is unreachable)'])) == \
        "needs the public network: 1.2.3.4:80"
    assert str(of_failure(["send() failed (101: Network is unreachable) while resolving, resolver: 8.8.8.8:53"])) == \
        "needs the public network: 8.8.8.8:53"
    assert str(of_failure(["sendmsg() failed (101: Network is unreachable)"])) == \
        "needs the public network: an address with no route"
    assert str(of_failure(["resolver 8.8.8.8:53 failed (101: Network is unreachable)"])) == \
        "needs the public network: 8.8.8.8:53"
    assert of_failure(["localhost could not be resolved", "response_body 'a', expected 'b'"]) is None
    assert str(of_failure(['[emerg] 86#86: unknown directive "more_clear_headers" in /harness/conf/nginx.conf:36'])) == \
        "module missing in image: headers-more-nginx-module (directive more_clear_headers)"
    assert str(of_failure(['[emerg] 1#1: unknown directive "foo_bar" in x:1'])) == \
        "module missing in image: the one with directive foo_bar"
    assert missing_modules(("stream", "ngx_stream_lua"), None) is None
    assert missing_modules(("stream",), frozenset({"stream"})) is None
