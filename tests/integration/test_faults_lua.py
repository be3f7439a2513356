"""Catalogue 8-13: blocking log phases, light threads, and Lua/config mistakes, each faulty fixture
caught and its healthy twin passing the same check."""
import re
import threading
import time

import httpx
import pytest

from harness.errors import HarnessError
from harness.waiting import wait_for

pytestmark = pytest.mark.integration


def timed_get(client, path, **kwargs):
    started = time.perf_counter()
    response = client.get(path, **kwargs)
    return response, time.perf_counter() - started


@pytest.mark.parametrize("ms", [1500, 0])
def test_a_slow_log_phase_stalls_the_other_requests_of_its_worker(openresty, ms):
    nginx = openresty("log-phase", workers=1)
    worker = nginx.workers().workers[0]
    with httpx.Client(base_url=nginx.base_url, timeout=10) as client:
        _, baseline = timed_get(client, "/quiet")
        threading.Thread(target=lambda: httpx.get(nginx.base_url + f"/late?ms={ms}", timeout=10), daemon=True).start()
        if ms:
            wait_for(lambda: nginx.workers().workers[0].state == "R", timeout=5, what="the log phase to spin")
            table = nginx.workers(interval=0.5)
            cpu = table.busy_percent[worker.pid]  # running or runnable: whatever else the host runs
            response, waited = timed_get(client, "/quiet")  # accepted by the same, busy worker
        else:
            nginx.log.assert_logged("late line from the log phase after 0 ms")
            response, waited = timed_get(client, "/quiet")
        assert response.status_code == 200
    entry = nginx.log.assert_logged(f"late line from the log phase after {ms} ms", count=1)[0]
    assert entry.pid == worker.pid  # which worker it was
    print(f"log phase {ms} ms on worker {worker.pid}: another request waited {waited * 1000:.0f} ms "
          f"(baseline {baseline * 1000:.1f} ms)" + (f", worker CPU {cpu:.0f}%" if ms else ""))
    if ms:
        assert cpu > 80, f"the worker should be pegged, was {cpu:.0f}%"
        assert waited > 0.3 and waited > 10 * baseline, f"waited only {waited:.3f}s"
    else:
        assert waited < 0.25


def test_an_endless_log_phase_is_detected_as_a_stuck_worker_and_cleaned_up(openresty, harness_stage):
    nginx = openresty("stuck-log-phase", workers=1, reuse=False)
    stuck = nginx.workers().workers[0]
    with httpx.Client(base_url=nginx.base_url, timeout=2) as client:
        assert client.get("/spin").status_code == 200  # the response goes out before the log phase
        problems = wait_for(lambda: [p for p in nginx.health(interval=0.3) if "stuck in a loop?" in p],
                            timeout=10, what="the stuck worker to show in the health check")
        assert len(problems) == 1 and problems[0].startswith(f"worker {stuck.pid} at "), problems
        with pytest.raises(httpx.TimeoutException):
            client.get("/quiet")
    log = nginx.log
    log.settle_timeout = 0.5
    with pytest.raises(HarnessError, match=r"did not get back to their event loop.*blocked"):
        log.assert_not_logged("anything")
    container_id = nginx.get_container_id()
    openresty.started.remove(nginx)
    harness_stage.release(nginx)  # not healthy: removed, never reused
    assert container_id not in {c.id for c in harness_stage.engine.client.containers.list(all=True, ignore_removed=True)}


def test_sequential_calls_take_the_sum_and_light_threads_the_max(openresty):
    nginx = openresty("light-threads")
    with nginx.client(timeout=5) as client:
        seq, seq_time = timed_get(client, "/sequential")
        par, par_time = timed_get(client, "/spawned")
    assert seq.text == par.text == "call1,call2,call3\n"
    assert seq_time >= 0.58 and par_time < 0.4 and seq_time / par_time > 1.8, (seq_time, par_time)


@pytest.mark.allow_log_problems("attempt to index upvalue 'result_dict'")
def test_missing_shared_dict_fails_at_request_time_and_the_declared_twin_works(openresty, harness_stage):
    faulty = openresty("missing-shared-dict")  # starts: nginx cannot know what Lua will index
    with faulty.client() as client:
        assert client.get("/result").status_code == 500
    faulty.log.assert_logged("attempt to index upvalue 'result_dict' (a nil value)", level="error")
    healthy = openresty(harness_stage.fixture("missing-shared-dict").with_snippets(
        http_conf="lua_shared_dict result_dict 1m;"))
    with healthy.client() as client:
        assert [client.get("/result").text for _ in range(2)] == ["1\n", "2\n"]
    healthy.log.assert_not_logged("attempt to index")


@pytest.mark.allow_log_problems("module 'binary_protocol' not found")
def test_module_not_found_lists_the_searched_paths_and_the_fixed_path_works(openresty, harness_stage):
    faulty = openresty("broken-module-path")
    with faulty.client() as client:
        assert client.get("/decode").status_code == 500
    entry = faulty.log.assert_logged("module 'binary_protocol' not found:")[0]
    assert re.search(r"no file '/harness/gen/\d+/fixture/lua/binary_protocol.lua'", entry.message)
    healthy = openresty(harness_stage.fixture("broken-module-path").with_snippets(
        http_conf='lua_package_path "${FIXTURE_DIR}/lua/lib/?.lua;;";'))
    with healthy.client() as client:
        assert client.get("/decode").text == "1,2,3\n"


@pytest.mark.allow_log_problems("attempt to index local 'token'")
def test_runtime_error_in_the_access_phase_and_the_defensive_twin(openresty):
    nginx = openresty("broken-access-phase")
    with nginx.client() as client:
        assert client.get("/api").status_code == 500
        assert client.get("/api-checked").status_code == 401
        for path in ("/api", "/api-checked"):
            assert client.get(path, headers={"X-Token": "secret-1"}).text == "welcome\n"
    entry = nginx.log.assert_logged("lua entry thread aborted: runtime error", count=1)[0]
    assert "access_by_lua" in entry.message and "attempt to index local 'token' (a nil value)" in entry.message
    assert entry.request == "GET /api HTTP/1.1"
