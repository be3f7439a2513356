"""Catalogue 4-7: memory limits, file descriptor limits, CPU quotas, each with a healthy twin."""
import httpx
import pytest

from harness.waiting import wait_for
from harness.workers import diff

pytestmark = pytest.mark.integration

LIMIT = "160m"


@pytest.mark.allow_log_problems("exited on signal 9")
def test_memory_limit_oom_kills_a_growing_worker_and_the_master_respawns_it(openresty):
    nginx = openresty("leaky-lua-table", workers=1, memory=LIMIT, reuse=False)
    before = nginx.workers()
    victim = before.workers[0]

    def hog() -> bool:
        try:
            httpx.get(nginx.base_url + "/hog?mb=16", timeout=10)
        except httpx.HTTPError:
            pass  # the request in flight when the kernel kills the worker fails
        return bool(nginx.log.grep(f"worker process {victim.pid} exited on signal 9"))
    wait_for(hog, timeout=60, what=f"the kernel to OOM-kill worker {victim.pid} under --memory {LIMIT}")
    after = wait_for(lambda: (t := nginx.workers()).workers and t, timeout=10, what="a new worker")
    change = diff(before, after)
    assert [p.pid for p in change.died] == [victim.pid] and len(change.respawned) == 1
    with nginx.client() as client:
        assert client.get("/remember").status_code == 200  # the new worker serves


def test_bounded_cache_stays_inside_the_same_memory_limit(openresty):
    nginx = openresty("bounded-lua-table", workers=1, memory=LIMIT, reuse=False)
    worker = nginx.workers().workers[0]
    with nginx.client() as client:
        for _ in range(300):
            assert client.get("/remember").status_code == 200
    assert nginx.workers().workers[0].pid == worker.pid
    nginx.log.assert_not_logged("exited on signal")


@pytest.mark.allow_log_problems("Too many open files")
def test_low_nofile_and_a_leaking_handler_run_out_of_descriptors(openresty, redis):
    nginx = openresty("leaky-redis", workers=1, nofile=64, reuse=False)
    statuses = []
    with nginx.client(timeout=5) as client:
        for _ in range(100):
            statuses.append(client.get("/count").status_code)
            if statuses[-1] != 200:
                break
    print(f"nofile=64: request {len(statuses)} was the first to fail")
    assert statuses[-1] == 500 and 40 <= len(statuses) < 100, statuses
    nginx.log.assert_logged("Too many open files")
    worker = nginx.workers().workers[0]
    assert any(f"worker {worker.pid} has" in p and "of nofile 64" in p for p in nginx.health(interval=0.1))


def test_the_pooled_twin_serves_the_same_traffic_under_the_same_limit(openresty, redis):
    nginx = openresty("redis-counter", workers=1, nofile=64, reuse=False)
    with nginx.client(timeout=5) as client:
        assert all(client.get("/count").status_code == 200 for _ in range(200))
    worker = nginx.workers().workers[0]
    assert worker.fds < 0.8 * 64 and nginx.health(interval=0.1) == []
    nginx.log.assert_not_logged("Too many open files")


def test_explicit_worker_count_fits_the_cpu_quota_and_memory(openresty):
    """Catalogue 7, the fix: worker_processes set to the quota instead of auto."""
    nginx = openresty("hello", workers=1, cpus=1, memory="128m")
    table = nginx.workers(interval=0.2)
    assert len(table.workers) == 1 and nginx.health(interval=0.2) == []
    assert sum(p.rss_mb for p in table.processes) < 128
