"""WorkerTable on a real master: CPU, diffs and the catalogue's health thresholds, both ways."""
import threading

import httpx
import pytest

from harness.waiting import wait_for
from harness.workers import diff

pytestmark = pytest.mark.integration


def test_idle_server_is_healthy(openresty):
    nginx = openresty("hello", workers=2, cpus=2, nofile=4096)
    nginx.assert_healthy()
    table = nginx.workers()
    assert len(table.workers) == 2 and table.master is not None
    assert all(w.nofile == 4096 and 0 < w.fds < 100 for w in table.workers)
    assert all(w.ppid == table.master.pid for w in table.workers)


def test_worker_processes_auto_under_a_cpu_quota_is_flagged(openresty):
    """Catalogue 7: nginx counts the host's CPUs, not the container's quota."""
    nginx = openresty("hello", workers="auto", cpus=1)
    assert len(nginx.workers().workers) == nginx.identity["workers"] >= 2
    with pytest.raises(AssertionError, match=r"\d+ workers for a CPU quota of 1: set worker_processes"):
        nginx.assert_healthy()


def test_a_worker_spinning_in_its_log_phase_shows_100_percent_cpu(openresty):
    nginx = openresty("log-phase", workers=1)
    url = nginx.base_url + "/late?ms=3000"
    spinner = threading.Thread(target=lambda: httpx.get(url, timeout=10), daemon=True)
    spinner.start()
    wait_for(lambda: nginx.workers().workers[0].state == "R",
             timeout=5, what="the worker to start spinning")
    table = nginx.workers(interval=0.5)
    worker = table.workers[0]
    # running or waiting for a CPU all along: other runs on this host's CPUs cannot make it look idle
    assert table.busy_percent[worker.pid] > 90, table.format()
    # a noisy 2-core machine can steal a few percent from any one sample: poll, with a deadline
    problems = wait_for(lambda: [p for p in nginx.health(interval=0.5) if "stuck in a loop?" in p],
                        timeout=2.0, what="the health check to flag the spinning worker")
    assert problems[0].startswith(f"worker {worker.pid} at "), problems
    spinner.join(timeout=10)


@pytest.mark.allow_log_problems("exited on signal 9")
def test_killed_worker_is_seen_as_died_and_respawned(openresty):
    nginx = openresty("hello", workers=2)
    before = nginx.workers()
    victim = before.workers[0].pid
    nginx.sh(f"kill -9 {victim}")
    after = wait_for(lambda: (t := nginx.workers()) and len(t.workers) == 2 and t.by_pid(victim) is None and t,
                     timeout=10, what="the master to replace the killed worker")
    change = diff(before, after)
    assert [p.pid for p in change.died] == [victim]
    assert len(change.respawned) == 1 and not change.zombies
    nginx.log.assert_logged(f"worker process {victim} exited on signal 9", level="alert")
