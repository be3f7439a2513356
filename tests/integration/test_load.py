"""Load with locust in its own process, bursts with httpx, and CPU per request."""
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.errors import HarnessError
from harness.faults import WorkerFault
from harness.load import CpuMeter, LoadSpec, aburst, burst, run_load

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def assert_plausible(result, duration):
    p = result.percentiles_ms
    assert result.requests > 0 and result.rps > 0
    assert 0 < p["p50"] <= p["p90"] <= p["p99"] <= p["p99.9"] <= p["max"]
    assert duration - 1 <= len(result.series) <= duration + 2
    assert sum(s["requests"] for s in result.series) == result.requests


def test_short_load_counts_every_request_in_redis(openresty, redis, load):
    nginx = openresty("redis-counter", workers=2)
    result = load(nginx, users=10, duration=3, paths=["/count?key=load"])
    print(result.summary())
    assert_plausible(result, 3)
    assert result.failures == {}
    assert int(redis.client().get("counter:load")) == result.requests  # nothing lost, nothing doubled
    nginx.log.assert_not_logged("[error]")


def test_failures_are_counted_by_kind(openresty, load):
    nginx = openresty("hello")
    result = load(nginx, users=2, duration=2, paths=["/", "/no-such-page"])
    assert result.failed > 0 and result.failed < result.requests
    assert any("404" in kind for kind in result.failures), result.failures


def test_several_locust_processes_merge_into_one_histogram(openresty):
    nginx = openresty("hello", workers=2)
    result = run_load(nginx.base_url, LoadSpec(users=8, duration=3, processes=2))
    assert_plausible(result, 3)
    assert result.failures == {}


def test_the_lean_client_counts_every_request_and_failure_across_reconnects(openresty, redis):
    # nginx closes a keep-alive connection after 1000 requests (keepalive_requests): at thousands of
    # requests a second every connection is replaced several times, and nothing may be lost or doubled
    nginx = openresty("redis-counter", workers=2)
    result = run_load(nginx.base_url, LoadSpec(users=8, duration=3, processes=2, client="raw",
                                               paths=("/count?key=raw", "/count?key=raw", "/no-such-page")))
    print(result.summary())
    assert_plausible(result, 3)
    assert result.requests > 8 * 1000 * 2, "expected every connection to be replaced at least twice"
    assert set(result.failures) == {"HttpStatusError: HTTP 404"}, result.failures
    assert int(redis.client().get("counter:raw")) == result.requests - result.failed
    nginx.log.assert_logged("no-such-page", level="error", count=result.failed)  # each 404 is in error.log
    nginx.log.assert_not_logged(re.compile(r"^(?!.*no-such-page)"), level="error")


def test_distributed_mode_merges_local_and_remote_workers(openresty, redis, tmp_path):
    # The "remote" worker is started from the line the harness logs, as a user would on another host
    # (here with the venv's locust first on PATH); the master waits for it before any user starts.
    nginx = openresty("redis-counter", workers=2)
    remote = []

    def start_remote_worker(line):
        print(line)
        if "on each one run: " in line:
            path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
            remote.append(subprocess.Popen(f"PATH={path} {line.split('on each one run: ', 1)[1]}", shell=True,
                                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))

    spec = LoadSpec(users=8, duration=3, workers=1, remote_workers=1, workers_wait=30, client="raw",
                    paths=("/count?key=distributed",))
    result = run_load(nginx.base_url, spec, log=start_remote_worker)
    print(result.summary())
    assert len(remote) == 1 and remote[0].wait(timeout=30) == 0, remote[0].stdout.read()
    assert_plausible(result, 3)
    assert result.failures == {}
    assert int(redis.client().get("counter:distributed")) == result.requests  # both workers' counts merged


def test_a_remote_worker_that_never_joins_is_a_clear_error(openresty):
    nginx = openresty("hello")
    with pytest.raises(HarnessError, match=r"not every locust worker joined within 2s \(1 expected\)"):
        run_load(nginx.base_url, LoadSpec(users=2, duration=2, remote_workers=1, workers_wait=2))


def test_target_rate_is_held(openresty):
    nginx = openresty("hello")
    result = run_load(nginx.base_url, LoadSpec(users=4, duration=4, rate=100))
    assert 80 <= result.rps <= 120, result.summary()


def test_scenario_locustfile_runs_standalone_with_the_locust_cli(openresty, redis, tmp_path):
    nginx = openresty("redis-counter")
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "scenarios/locustfile_counter.py"), "--headless",
         "-u", "4", "-r", "4", "-t", "2s", "--host", nginx.base_url, "--only-summary"],
        env={**__import__("os").environ, "HARNESS_LOAD_OUT": str(out)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.exists() and '"requests"' in out.read_text()
    assert int(redis.client().get("counter:load")) > 0


def test_burst_counts_the_requests_a_stopped_worker_stalls(openresty):
    nginx = openresty("hello", workers=1)
    healthy = burst(nginx.base_url + "/", n=20, timeout=1.0)
    assert healthy.answered == 20 and healthy.timed_out == 0
    with WorkerFault(nginx).stopped_worker():
        stuck = burst(nginx.base_url + "/", n=20, timeout=1.0)
    print(f"healthy: {healthy}; with the only worker stopped: {stuck}")
    assert stuck.answered == 0 and stuck.timed_out == 20


def test_aburst_runs_inside_an_event_loop_next_to_other_work(openresty):
    nginx = openresty("hello", workers=1)

    async def probe_twice():
        return await asyncio.gather(aburst(nginx.base_url + "/", n=10), aburst(nginx.base_url + "/", n=10))

    first, second = asyncio.run(probe_twice())
    assert first.answered == second.answered == 10 and set(first.statuses) == {200}


def test_cpu_per_request_tells_a_costly_log_phase_from_a_cheap_one(openresty):
    nginx = openresty("log-phase", workers=1)
    with httpx.Client(base_url=nginx.base_url) as client:
        with CpuMeter(nginx) as cheap:
            for _ in range(200):
                client.get("/quiet")
        with CpuMeter(nginx) as costly:
            for _ in range(50):
                client.get("/late?ms=3")
    cheap_ms, costly_ms = cheap.per_request_ms(200), costly.per_request_ms(50)
    print(f"CPU per request: /quiet {cheap_ms:.3f} ms, /late?ms=3 {costly_ms:.3f} ms")
    assert 2.5 < costly_ms < 10 and costly_ms > 10 * cheap_ms
