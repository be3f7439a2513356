"""harness serve end to end on real containers: `harness t` and pytest hand their runs to it and get
the verdicts of a run in a process of their own, on a stage kept warm between runs; `--stop` and a
killed server leave nothing behind."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import docker
import pytest

from harness.waiting import wait_for

pytestmark = pytest.mark.integration
TNGINX = Path(__file__).resolve().parent.parent / "tnginx"
FILES = [TNGINX / "faulty" / "broken.t", TNGINX / "faulty" / "services.t"]  # failing blocks; Redis, DNS
HARNESS = [sys.executable, "-m", "harness"]
SMALL = """use Test::Nginx::Socket::Lua;
plan tests => blocks() * 2;
run_tests();
__DATA__
=== TEST 1: an answer
--- config
    location = /t { content_by_lua_block { ngx.say("one") } }
--- request
GET /t
--- response_body
one
=== TEST 2: another
--- config
    location = /t { content_by_lua_block { ngx.say("two") } }
--- request
GET /t
--- response_body
two
"""

COUNTER = """use Test::Nginx::Socket::Lua;
plan tests => blocks() * 2;
run_tests();
__DATA__
=== TEST 1: a run finds the harness's Redis empty, as a run of its own does
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(1000)
            local ok, err = red:connect("$TEST_NGINX_REDIS_HOST", $TEST_NGINX_REDIS_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            local n, err = red:incr("served-runs")
            if not n then
                ngx.log(ngx.ERR, "failed to incr: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(10000, 8)
            ngx.say(n)
        }
    }
--- request
GET /t
--- response_body
1
"""


def small_suite(tmp_path: Path) -> Path:
    """A .t file of two blocks, outside this repository (whose tests/conftest.py says HARNESS_SERVE=off)."""
    path = tmp_path / "suite" / "t" / "small.t"
    path.parent.mkdir(parents=True)
    path.write_text(SMALL)
    return path


def env_for(sock: Path, serve: str = "auto") -> dict[str, str]:
    return {**os.environ, "HARNESS_SERVE": serve, "HARNESS_SERVE_SOCKET": str(sock), "HARNESS_SERVE_IDLE": "300"}


def run(args: list[str], sock: Path, cwd: Path, serve: str = "auto") -> tuple[int, str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=cwd, env=env_for(sock, serve))
    return proc.returncode, proc.stdout + proc.stderr


def served_run(out: str, pid: int) -> int:
    """N of the last line's ``run N on the warm stage of pid PID``; 0 when the run was not served there."""
    found = re.search(rf"pid {pid} ran this: run (\d+) on the warm stage of pid {pid}", out)
    return int(found.group(1)) if found else 0


def verdicts(reports: Path) -> dict[str, str]:
    return json.loads((reports / "t.json").read_text())["blocks"]


def containers_of(pid: int) -> list[str]:
    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": f"harness.pid={pid}"})]
    finally:
        client.close()


def start(sock: Path, cwd: Path) -> int:
    code, out = run([*HARNESS, "serve", "--detach"], sock, cwd)
    assert code == 0 and "listening at" in out, out
    return int(out.split("pid ", 1)[1].split()[0])


@pytest.fixture(scope="module")
def server(harness_stage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """One server for the module's tests (each run on it begins as a run of its own would)."""
    home = tmp_path_factory.mktemp("serve")
    sock = home / "serve.sock"
    pid = start(sock, home)
    yield sock, pid
    run([*HARNESS, "serve", "--stop"], sock, home)
    wait_for(lambda: not containers_of(pid), timeout=60, what=f"the containers of server {pid} to be removed")


def test_runs_handed_to_the_server_get_the_verdicts_of_a_run_of_their_own(server, tmp_path):
    sock, pid = server
    paths = [str(p) for p in FILES]
    code, out = run([*HARNESS, "t", *paths, "--reports", str(tmp_path / "cold")], sock, tmp_path, serve="off")
    assert code == 1 and "ran this" not in out, out  # broken.t's two blocks fail
    cold = verdicts(tmp_path / "cold")
    assert sorted(set(cold.values())) == ["failed", "passed"]
    runs = []
    for n in (1, 2):
        reports = tmp_path / f"served-{n}"
        code, out = run([*HARNESS, "t", *paths, "--reports", str(reports)], sock, tmp_path)
        runs.append(served_run(out, pid))
        assert code == 1 and runs[-1], out
        assert verdicts(reports) == cold and (reports / "t.xml").is_file()
        assert "response_body 'actual', expected 'expected'" in out  # the failure's detail, as in a cold run
    assert runs[1] == runs[0] + 1 and containers_of(pid)  # the same stage, warm between runs


def test_each_served_run_finds_the_services_fresh(server, tmp_path):
    sock, pid = server
    counter = tmp_path / "t" / "counter.t"
    counter.parent.mkdir()
    counter.write_text(COUNTER)
    runs = []
    for n in (1, 2):
        code, out = run([*HARNESS, "t", str(counter), "--reports", str(tmp_path / f"r{n}")], sock, tmp_path)
        runs.append(served_run(out, pid))
        assert code == 0 and runs[-1], out  # the second: 1 again, not 2
    assert runs[1] == runs[0] + 1


def test_pytest_given_t_files_hands_its_run_over(server, tmp_path):
    sock, pid = server
    small = small_suite(tmp_path)
    code, out = run([sys.executable, "-m", "pytest", str(small), "-q", "-p", "no:cacheprovider"], sock, tmp_path)
    assert code == 0 and f"pid {pid} ran this" in out and "2 passed" in out, out


def test_a_killed_server_is_swept_and_the_run_goes_on_without_it(harness_stage, tmp_path):
    sock = tmp_path / "serve.sock"
    pid = start(sock, tmp_path)
    small = str(small_suite(tmp_path))
    code, out = run([*HARNESS, "t", small, "--reports", str(tmp_path / "r1")], sock, tmp_path)
    assert code == 0 and f"pid {pid} ran this" in out and containers_of(pid), out
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(),
             timeout=30, what=f"server {pid} to die")
    code, out = run([*HARNESS, "t", small, "--reports", str(tmp_path / "r2")], sock, tmp_path)
    assert code == 0 and "ran this" not in out, out  # its socket answers no more: a run of its own
    assert not containers_of(pid)  # that run's sweep removed what the killed server left
