"""harness.preflight without Docker: options, the static scans, and how probe, luacheck and worker
outputs become verdicts (the integration tests run the same checks on real containers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.images.profiles import BOOKWORM_OPENRESTY, OFFICIAL_OPENRESTY, TRIXIE_OPENRESTY
from harness.nginx_conf import Fixture, RenderOptions, write_bundle
from harness.preflight import CHECKS, CheckResult, PreflightOptionError, PreflightOptions, PreflightReport, Verdict
from harness.preflight.image_checks import ImageChecks, sections, write_probe_files
from harness.preflight.lint import check_lint, parse
from harness.preflight.lua_tokens import tokenize
from harness.preflight.runtime_checks import (RuntimeSample, check_connections, check_memory, check_start,
                                              check_workers)
from harness.preflight.source import AppSource, requires
from harness.preflight.static_checks import check_blocking, check_shared_dicts
from harness.preflight.settings import PreflightSettings
from harness.workers import Process, WorkerTable

FIXTURES = Path(__file__).resolve().parents[2] / "nginx-fixtures"


def app(name: str, **snippets: str) -> AppSource:
    fixture = Fixture.load(FIXTURES / name)
    return AppSource.read(fixture.with_snippets(**snippets) if snippets else fixture)


def inline(server: str = "", http: str = "", lua: dict[str, str] | None = None) -> AppSource:
    return AppSource.read(Fixture.inline(config=server, http_config=http, lua=lua))


# ---- options ------------------------------------------------------------------------------------
def test_options_default_to_the_settings_and_env():
    o = PreflightOptions.resolve(PreflightSettings.from_sources(environ={}))
    assert (o.cpus, o.memory, o.nofile, o.workers, o.paths) == (1.0, "256m", None, 1, ("/",))
    env = {"HARNESS_PREFLIGHT_WORKERS": "auto", "HARNESS_PREFLIGHT_MEMORY": "128m", "HARNESS_PREFLIGHT_NOFILE": "1024"}
    o = PreflightOptions.resolve(PreflightSettings.from_sources(environ=env), cpus="2", path="/count")
    assert (o.cpus, o.memory_bytes, o.nofile, o.workers, o.paths) == (2.0, 128 * 1024 ** 2, 1024, "auto", ("/count",))
    both = [PreflightOptions.resolve(PreflightSettings.from_sources(environ={}), env=e) for e in (["B=2", "A=x=y"],
                                                                                         {"A": "x=y", "B": "2"})]
    assert both[0] == both[1] and both[0].env == (("A", "x=y"), ("B", "2"))


@pytest.mark.parametrize("given, message", [
    ({"workers": "many"}, "workers 'many': write a number of workers (1 or more) or auto"),
    ({"memory": "lots"}, "memory 'lots': write a size such as 256m"),
    ({"cpus": "0"}, "cpus 0: the CPU quota must be above 0"),
    ({"nofile": "ten"}, "nofile 'ten': write a whole number"),
    ({"paths": ["count"]}, "path 'count': write a path that starts with /"),
    ({"color": "red"}, "unknown preflight option(s) color"),
    ({"env": ["1X=2"]}, "env '1X': write NAME=VALUE"),
])
def test_bad_options_are_one_line_errors(given, message):
    with pytest.raises(PreflightOptionError) as err:
        PreflightOptions.resolve(PreflightSettings.from_sources(environ={}), **given)
    assert message in err.value.message and "\n" not in err.value.message


# ---- reading the app ----------------------------------------------------------------------------
def test_tokens_skip_comments_and_strings():
    tokens, _ = tokenize('-- require "a"\nlocal s = "ngx.shared.x" --[[ os.execute() ]]\nrequire [[b]]')
    assert [(t.kind, t.value, t.line) for t in tokens][-2:] == [("name", "require", 3), ("string", "b", 3)]


def test_inline_blocks_keep_their_lines_and_phases():
    source = inline(server="# content_by_lua_block { require 'commented' }\nlocation / {\n"
                           "    content_by_lua_block {\n        local t = { a = 1 }\n        require('x')\n    }\n"
                           "    log_by_lua_block { require 'y' }\n}\n")
    assert [(c.phase, c.first_line, requires(c)) for c in source.chunks] == [
        ("content", 3, [("x", 3)]), ("log", 7, [("y", 1)])]
    assert [c.where(line) for c in source.chunks for _, line in requires(c)] == ["server.conf:5", "server.conf:7"]


# ---- shared dicts -------------------------------------------------------------------------------
def test_missing_shared_dict_fails_at_its_use_and_the_twin_passes():
    result = check_shared_dicts(app("missing-shared-dict"))
    assert result.verdict == Verdict.FAIL
    assert "missing-shared-dict/lua/results.lua:2: ngx.shared.result_dict is used" in result.summary
    assert "lua_shared_dict result_dict 1m;" in result.summary
    twin = check_shared_dicts(app("missing-shared-dict", http_conf="lua_shared_dict result_dict 1m;\n"))
    assert twin.verdict == Verdict.OK


def test_shared_dict_names_from_constants_and_aliases():
    source = inline(http="lua_shared_dict cache_v2 1m;\nlua_shared_dict locks 1m;\nlua_shared_dict spare 1m;\n",
                    lua={"m.lua": 'local PREFIX = "cache"\nlocal shared = ngx.shared\n'
                                  'local c = ngx.shared[PREFIX .. "_v2"]\nlocal l = shared["locks"]\nreturn {c, l}\n'})
    result = check_shared_dicts(source)
    assert result.verdict == Verdict.WARN
    assert [f.message.split(" is ")[0] for f in result.findings] == ["lua_shared_dict spare"]


# ---- blocking calls -----------------------------------------------------------------------------
def test_stuck_log_phase_is_a_warning_naming_the_log_phase():
    result = check_blocking(app("stuck-log-phase"))
    assert result.verdict == Verdict.WARN
    assert result.summary.startswith("nginx-fixtures/stuck-log-phase/server.conf:7: `while true do`")
    assert "log_by_lua" in result.summary and "after the response is sent" in result.summary
    assert check_blocking(app("log-phase")).verdict == Verdict.OK  # its loop ends (a deadline)


def test_blocking_calls_with_file_and_line():
    source = inline(server='location / {\n    content_by_lua_block { require("slow").run() }\n'
                           '    log_by_lua_block {\n        ngx.sleep(0.1)\n    }\n}\n',
                    http='init_by_lua_block { os.execute("mkdir -p /tmp/x") }\n',
                    lua={"slow.lua": 'local http = require "socket.http"\nlocal _M = {}\nfunction _M.run()\n'
                                     '    os.execute("sleep 1")\n    local f = io.popen("ls")\n'
                                     '    return http, f\nend\nreturn _M\n'})
    found = {(f.where.rsplit("/", 1)[-1], f.message.split(" ")[0]) for f in check_blocking(source).findings}
    assert found == {("server.conf:4", "ngx.sleep"), ("slow.lua:1", "require"),
                     ("slow.lua:4", "os.execute(\"sleep"), ("slow.lua:5", "io.popen")}  # init: not flagged


# ---- luacheck -----------------------------------------------------------------------------------
def test_luacheck_lines_map_to_the_app(tmp_path):
    source = inline(server="location / {\n    content_by_lua_block {\n        counter = 1\n    }\n}\n",
                    http="init_by_lua_block { config = {} }\n", lua={"m.lua": "local unused = 1\nreturn {}\n"})
    output = ("inline/001-server.conf-2.lua:2:9: (W111) setting non-standard global variable 'counter'\n"
              "inline/000-http.conf-1.lua:1:3: (W111) setting non-standard global variable 'config'\n"
              "lua/m.lua:1:7: (W211) unused variable 'unused'\n"
              "lua/m.lua:2:121: (W631) line is too long (121 > 120)\n"
              "lua/m.lua:3:1: (E011) expected 'end' near <eof>\n")
    result = check_lint(source, tmp_path, [("canned", lambda argv, cwd: (2, output))])
    by_where = {f.where.rsplit("/", 1)[-1]: f.verdict for f in result.findings}
    assert by_where == {"server.conf:3": Verdict.WARN, "m.lua:1": Verdict.WARN, "m.lua:3": Verdict.FAIL}
    assert result.verdict == Verdict.FAIL and "syntax error" in result.summary
    assert sorted(p.name for p in (tmp_path / "inline").iterdir()) == ["000-http.conf-1.lua", "001-server.conf-2.lua"]
    assert parse("", [], source) == []


def test_without_luacheck_the_check_says_so(tmp_path):
    result = check_lint(app("hello"), tmp_path, [("the tools image x", lambda argv, cwd: None)])
    assert result.verdict == Verdict.SKIP
    assert "luacheck unavailable (looked in: the tools image x)" in result.summary and "apt-get install lua-check" \
        in result.summary


# ---- the probe's output -------------------------------------------------------------------------
PROBE_OUTPUT = """@@harness-preflight config
nginx: [emerg] lua_shared_dict "cache" is already defined as "cache" in /harness/gen/1/fixture/http.conf:4
nginx: configuration file /harness/gen/1/nginx.conf test failed
@@harness-preflight config-exit 1
@@harness-preflight resolve
@@harness-preflight resolve-exit 0
@@harness-preflight modules
path\t/harness/gen/1/fixture/lua/?.lua;;
cpath\t/harness/gen/1/fixture/lua/?.so;;
found\tresty.redis\t/usr/share/lua/5.1/resty/redis.lua
missing\tbinary_protocol\tno field package.preload['binary_protocol']\\n\tno file '/harness/gen/1/fixture/lua/binary_protocol.lua'
@@harness-preflight ldd
file /harness/gen/1/fixture/lua/native.so
\tlibtolua++.so => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f83fc1e8000)
file /usr/sbin/nginx
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f83fc1e8000)
"""


def test_probe_output_becomes_config_modules_and_native_verdicts():
    fixture = Fixture.load(FIXTURES / "broken-module-path")
    source = AppSource.read(fixture.with_snippets(server_conf='location / { content_by_lua_block {\n'
                                                              'require "resty.redis"\nrequire "binary_protocol" } }\n'))
    checks, parts = ImageChecks(source, fixture), sections(PROBE_OUTPUT)
    config = checks.config(parts)
    assert config.verdict == Verdict.FAIL
    assert config.summary == (f'nginx -t: nginx: [emerg] lua_shared_dict "cache" is already defined as "cache" in '
                              f'{FIXTURES}/broken-module-path/http.conf:4')
    modules = checks.modules(parts)
    assert modules.verdict == Verdict.FAIL and "module binary_protocol not found" in modules.summary
    missing = [f for f in modules.findings if f.verdict == Verdict.FAIL][0]
    assert missing.message == (f"module 'binary_protocol' not found:\n\tno field package.preload['binary_protocol']\n"
                               f"\tno file '{FIXTURES}/broken-module-path/lua/binary_protocol.lua'")
    native = checks.native(parts)
    assert native.verdict == Verdict.FAIL and "broken-module-path/lua/native.so needs libtolua++.so => not found" \
        in native.summary


def test_only_the_image_profile_differs_between_official_and_twin(tmp_path):
    """The probe for the official image and for the twin: the same script and files once each
    profile's own values (nginx binary, Lua paths, modules to load) are named by placeholder."""
    fixture = Fixture.load(FIXTURES / "redis-counter")
    source = AppSource.read(fixture)
    rendered = {}
    for profile in (OFFICIAL_OPENRESTY, TRIXIE_OPENRESTY, BOOKWORM_OPENRESTY):
        dest = tmp_path / profile.name
        bundle = write_bundle(dest, fixture, profile, 1, RenderOptions())
        work, script = write_probe_files(dest, source, profile, bundle)
        text = script + (work / "resolve.conf").read_text() + (work / "resolve.lua").read_text()
        for name, value in (("nginx_bin", profile.nginx_bin), ("lua_path", ";".join(profile.lua_path)),
                            ("lua_cpath", ";".join(profile.lua_cpath)),
                            ("modules", " ".join(sorted(profile.load_modules)))):
            text = text.replace(value, f"<{name}>") if value else text.replace(" ; do", " <modules>; do")
        rendered[profile.name] = [ln for ln in text.splitlines() if not ln.startswith("load_module ")]
    assert rendered["official"] == rendered["trixie"] == rendered["bookworm"]


# ---- workers, memory, open files ----------------------------------------------------------------
def proc(pid: int, role: str, rss_mb: float, nofile: int = 1024) -> Process:
    cmd = {"master": "nginx: master process", "worker": "nginx: worker process"}[role]
    return Process(pid, 1 if role == "master" else 7, "S", cmd, 0, 0, int(rss_mb * 256), fds=10, nofile=nofile)


def table(*procs: Process) -> WorkerTable:
    return WorkerTable(tuple(procs))


def test_auto_above_the_quota_fails_and_an_explicit_count_passes():
    auto = PreflightOptions.resolve(PreflightSettings.from_sources(environ={}), workers="auto", cpus=1)
    s = RuntimeSample(table(), table(proc(7, "master", 10), proc(8, "worker", 8), proc(9, "worker", 8)),
                      cpu_quota=1.0, configured=2)
    result = check_workers(s, auto)
    assert result.verdict == Verdict.FAIL and "worker_processes auto starts 2 workers under a CPU quota of 1" \
        in result.summary and "set worker_processes 1" in result.summary
    one = PreflightOptions.resolve(PreflightSettings.from_sources(environ={}), workers=1, cpus=1)
    s = RuntimeSample(table(), table(proc(7, "master", 10), proc(8, "worker", 8)), cpu_quota=1.0, configured=1)
    assert check_workers(s, one).verdict == Verdict.OK


def test_memory_projection_and_oom_kills():
    o = PreflightOptions.resolve(PreflightSettings.from_sources(environ={}), memory="100m", workers=2, cpus=2)
    workers = table(proc(7, "master", 10), proc(8, "worker", 30), proc(9, "worker", 31))
    assert check_memory(RuntimeSample(workers, workers, configured=2), o).verdict == Verdict.OK  # 72 %
    bigger = table(proc(7, "master", 10), proc(8, "worker", 38), proc(9, "worker", 40))
    warn = check_memory(RuntimeSample(bigger, bigger, configured=2), o)
    assert warn.verdict == Verdict.WARN and "2 worker(s) x 40 MB + master 10 MB = 90 MB of the 100m limit (90%)" \
        in warn.summary
    killed = RuntimeSample(workers, workers, error_log="... [alert] 1#1: worker process 12 exited on signal 9\n",
                           configured=2)
    fail = check_memory(killed, o)
    assert fail.verdict == Verdict.FAIL and fail.summary.startswith("worker process 12 exited on signal 9")


def test_worker_connections_against_nofile():
    low = RuntimeSample(table(), table(proc(8, "worker", 8, nofile=1024)), worker_connections=1024)
    result = check_connections(low)
    assert result.verdict == Verdict.WARN and "worker_connections 1024 is 100% of the workers' open files limit 1024" \
        in result.summary
    assert "raise nofile to 1280" in result.findings[0].message
    high = RuntimeSample(table(), table(proc(8, "worker", 8, nofile=65536)), worker_connections=1024)
    assert check_connections(high).verdict == Verdict.OK


def test_start_warns_when_the_warm_up_gets_no_answer():
    o = PreflightOptions.resolve(PreflightSettings.from_sources(environ={}))
    fine = check_start(RuntimeSample(table(), table(), statuses={"404": 20}), 0.6, o)
    assert fine.verdict == Verdict.OK and fine.summary == "ready in 0.6 s; warm-up GET / x20: 404 x20"
    stalled = check_start(RuntimeSample(table(), table(), statuses={"200": 1, "timeout": 19}), 0.6, o)
    assert stalled.verdict == Verdict.WARN and "19 warm-up request(s) got no answer" in stalled.findings[0].message
    killed = "worker process 15 exited on signal 9\n"
    oom = check_start(RuntimeSample(table(), table(), statuses={"200": 19, "error": 1}, error_log=killed), 0.6, o)
    assert oom.verdict == Verdict.OK and "1 lost with a worker killed by a signal" in oom.summary
    more = check_start(RuntimeSample(table(), table(), statuses={"200": 17, "error": 3}, error_log=killed), 0.6, o)
    assert more.verdict == Verdict.WARN and "2 warm-up request(s) got no answer" in more.findings[0].message


# ---- the report ---------------------------------------------------------------------------------
def test_report_table_json_and_exit_code(tmp_path):
    checks = [CheckResult(name, Verdict.OK, "fine") for name in CHECKS]
    report = PreflightReport("apps/x", "img", {"cpus": 1.0, "memory": "256m", "nofile": None, "workers": 1},
                             checks, seconds=2.5)
    assert report.exit_code == 0 and report.not_ok() == {}
    checks[CHECKS.index("native")] = CheckResult("native", Verdict.FAIL, "lua/x.so needs liby.so => not found")
    checks[CHECKS.index("blocking")] = CheckResult("blocking", Verdict.WARN, "server.conf:3: os.execute")
    assert report.exit_code == 1 and report.not_ok() == {"native": "fail", "blocking": "warn"}
    text = report.format()
    assert "native libraries (ldd)         FAIL  lua/x.so needs liby.so => not found" in text
    assert text.splitlines()[0].endswith(f"{len(CHECKS) - 2} ok, 1 warn, 1 fail in 2.5 s")
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert data["verdicts"]["native"] == "fail" and data["exit_code"] == 1 and len(data["checks"]) == len(CHECKS)


# ---- the scenario step --------------------------------------------------------------------------
def test_the_preflight_step_in_the_scenario_format():
    from pydantic import ValidationError

    from harness.scenarios.spec import Step

    step = Step.model_validate({"preflight": {"app": "hello", "options": {"workers": "auto"},
                                              "expect": {"workers": "fail"}}})
    assert step.preflight.preflight_options() == {"workers": "auto", "paths": None}  # only what was given
    assert step.preflight.expect == {"workers": "fail"}
    with pytest.raises(ValidationError, match="one kind of traffic"):
        Step.model_validate({"preflight": {}, "request": "GET /"})
    with pytest.raises(ValidationError, match="shared_dicts"):
        Step.model_validate({"preflight": {"expect": {"dicts": "fail"}}})


def test_the_step_checks_fail_on_an_unexpected_verdict(monkeypatch):
    from harness.preflight.step import PreflightStep
    from harness.scenarios import preflight_step

    checks = [CheckResult(name, Verdict.OK, "fine") for name in CHECKS]
    checks[CHECKS.index("shared_dicts")] = CheckResult("shared_dicts", Verdict.FAIL,
                                                       "results.lua:2: ngx.shared.result_dict is used")

    class Canned:
        def __init__(self, stage, options, image=""):
            pass

        def run(self, app):
            return PreflightReport("app", "img", {}, checks)

    class Stage:
        pass

    monkeypatch.setattr(preflight_step, "Preflight", Canned)
    _, got = preflight_step.run_preflight(Stage(), PreflightStep(expect={"shared_dicts": "fail"}), None)
    assert all(c.ok for c in got) and len(got) == len(CHECKS)
    _, got = preflight_step.run_preflight(Stage(), PreflightStep(), None)
    assert [(c.what, c.expected, c.actual) for c in got if not c.ok] == [
        ("preflight shared_dicts", "ok", "fail: results.lua:2: ngx.shared.result_dict is used")]
