"""harness preflight on real containers: each faulty fixture is caught by exactly the check it
breaks, with the evidence a user needs; its healthy twin is clean."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.nginx_conf import Fixture

FIXTURES = Path(__file__).resolve().parents[2] / "nginx-fixtures"

FAULTY = {
    "broken-duplicate-dict": ({}, {"config": "fail"},
                              ['lua_shared_dict "cache" is already defined', "broken-duplicate-dict/http.conf:4"]),
    "broken-module-path": ({}, {"modules": "fail"},
                           ["broken-module-path/server.conf:6", "module 'binary_protocol' not found:",
                            "no file '" + str(FIXTURES / "broken-module-path/lua/binary_protocol.lua'")]),
    "broken-native-lib": ({}, {"native": "fail"}, ["broken-native-lib/lua/native.so needs libtolua++.so => not found"]),
    "missing-shared-dict": ({}, {"shared_dicts": "fail"},
                            ["missing-shared-dict/lua/results.lua:2", "lua_shared_dict result_dict 1m;"]),
    "broken-memory-auto": ({"workers": "auto", "cpus": 2, "memory": "128m"}, {"memory": "fail"},
                           ["exited on signal 9", "2 worker(s) x", "of the 128m limit"]),
    "broken-port-taken": ({}, {"start": "fail"}, ["the app did not start", "Address already in use"]),
    "hello": ({"workers": "auto", "cpus": 1}, {"workers": "fail"},
              ["worker_processes auto starts 2 workers under a CPU quota of 1", "set worker_processes 1"]),
    "hello nofile=1024": ({"nofile": 1024}, {"connections": "warn"},
                          ["worker_connections 1024 is 100% of the workers' open files limit 1024"]),
    "broken-lua-syntax": ({}, {"lint": "fail"}, ["broken-lua-syntax/lua/greeting.lua:5: syntax error"]),
    "stuck-log-phase": ({}, {"blocking": "warn"}, ["stuck-log-phase/server.conf:7", "log_by_lua"]),
}


def evidence(report) -> str:
    return "\n".join([c.summary for c in report.checks] + [f.format() for c in report.checks for f in c.findings])


@pytest.mark.parametrize("name", sorted(FAULTY))
def test_each_faulty_fixture_is_caught_by_the_check_it_breaks(preflight, name):
    options, expected, needles = FAULTY[name]
    report = preflight(FIXTURES / name.split()[0], **options)
    assert report.not_ok() == expected, report.format()
    text = evidence(report)
    for needle in needles:
        assert needle in text, report.format()
    assert report.exit_code == (1 if "fail" in expected.values() else 0)


@pytest.mark.parametrize("name, options, twin", [
    ("broken-module-path", {}, {"http_conf": 'lua_package_path "${FIXTURE_DIR}/lua/lib/?.lua;;";\n'}),
    ("missing-shared-dict", {}, {"http_conf": "lua_shared_dict result_dict 1m;\n"}),
    ("broken-memory-auto", {"workers": 1, "cpus": 2, "memory": "128m"}, {}),
    ("native-lib", {}, {}),
    ("http-upstream", {"env": {"UPSTREAM_HOST": "127.0.0.1", "UPSTREAM_PORT": "9"}}, {}),  # ${...} from env
])
def test_healthy_twins_are_clean(preflight, name, options, twin):
    fixture = Fixture.load(FIXTURES / name)
    report = preflight(fixture.with_snippets(**twin) if twin else fixture, **options)
    assert report.not_ok() == {}, report.format()
    assert report["lint"].verdict.value == "ok"  # luacheck ran (in the tools image here): never a silent skip


def test_the_native_twin_really_loads(openresty):
    nginx = openresty("native-lib")
    with nginx.client() as client:
        assert client.get("/native").text == "native module loaded\n"


def test_cli_on_the_sample_app_is_all_ok(tmp_path, capsys, harness_stage):
    code = main(["preflight", "--app", str(FIXTURES / "redis-counter"), "-o", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data["verdicts"].values()) == {"ok"}, out
    assert "10 ok in" in out.splitlines()[0]


def test_cli_exit_codes(capsys, harness_stage):
    assert main(["preflight", "--app", str(FIXTURES / "broken-duplicate-dict"), "-o", "/dev/null"]) == 1
    assert main(["preflight", "--app", str(FIXTURES / "no-such-app")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["preflight", "--app", str(FIXTURES / "hello"), "--image", "harness-test/no-such-image:1"]) == 2
    assert "harness-test/no-such-image:1" in capsys.readouterr().err
