"""Catalogue 14-17: worker crashes, hung workers, zombies, and the master's signals."""
import threading

import httpx
import pytest

from harness.faults import WorkerFault
from harness.nginx_conf import Fixture
from harness.waiting import wait_for
from harness.workers import diff, health

pytestmark = pytest.mark.integration

SLOW = "location = /slow { content_by_lua_block { ngx.log(ngx.WARN, 'slow request on worker ', ngx.worker.pid()) " \
       "ngx.sleep(tonumber(ngx.var.arg_s) or 1.5) ngx.say('done') } }\n" \
       "location = /fast { content_by_lua_block { ngx.say('fast') } }"


def in_background(fn):
    """Run fn in a thread; return a dict that gets 'result' or 'error'."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    box["thread"] = thread
    return box


@pytest.mark.allow_log_problems("exited on signal 9")
def test_crashed_worker_fails_its_requests_in_flight_and_no_others(openresty):
    nginx = openresty.inline(SLOW, workers=2)
    url = nginx.base_url
    slow = [in_background(lambda: httpx.get(url + "/slow?s=4", timeout=10)) for _ in range(4)]
    # Each slow request says which worker took it; that is how we know what is in flight where.
    entries = nginx.log.assert_logged("slow request on worker", count=4)
    holder = {e.connection: e.pid for e in entries}
    before = nginx.workers()
    victim, after = WorkerFault(nginx).kill_worker(entries[0].pid)
    for box in slow:
        box["thread"].join(timeout=10)
    failed = sum("error" in box for box in slow)
    on_victim = sum(pid == victim.pid for pid in holder.values())
    assert failed == on_victim >= 1, f"{failed} failed, {on_victim} were on the killed worker {victim.pid}"
    assert all(httpx.get(url + "/fast", timeout=5).text == "fast\n" for _ in range(10))
    change = diff(before, after)
    assert [p.pid for p in change.died] == [victim.pid] and len(change.respawned) == 1
    nginx.log.assert_logged(f"worker process {victim.pid} exited on signal 9", level="alert")


def test_stopped_worker_hangs_its_requests_until_continued(openresty):
    nginx = openresty.inline(SLOW, workers=1)
    with WorkerFault(nginx).stopped_worker() as victim:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(nginx.base_url + "/fast", timeout=1.0)
        assert f"worker {victim.pid} is stopped (state T)" in health(nginx.workers())
        late = in_background(lambda: httpx.get(nginx.base_url + "/fast", timeout=10))
    late["thread"].join(timeout=10)
    assert late["result"].text == "fast\n", "requests queued on the stopped worker complete after SIGCONT"
    assert nginx.workers().by_pid(victim.pid).state in "SR"


@pytest.mark.allow_log_problems("exited on signal 9")
def test_zombie_worker_until_the_master_reaps_it(openresty):
    nginx = openresty("hello", workers=2)
    with WorkerFault(nginx).zombie() as victim:
        table = nginx.workers()
        assert table.by_pid(victim.pid).state == "Z"
        assert any(f"process {victim.pid} is a zombie" in p for p in health(table))
    table = nginx.workers()
    assert table.by_pid(victim.pid) is None and len(table.workers) == 2 and not table.zombies


def test_reload_under_load_loses_no_request(openresty):
    nginx = openresty.inline(SLOW, workers=2)
    stop = threading.Event()
    results: list = []

    def hammer():
        with httpx.Client(base_url=nginx.base_url, timeout=5, headers={"Connection": "close"}) as client:
            while not stop.is_set():
                try:
                    results.append(client.get("/fast").status_code)
                except httpx.HTTPError as exc:
                    results.append(repr(exc))
    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            nginx.switch(nginx.fixture)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    failures = [r for r in results if r != 200]
    assert len(results) > 50 and failures == [], f"{len(failures)} of {len(results)} failed: {failures[:5]}"
    assert nginx.generation >= 4


@pytest.mark.parametrize("signal, completes", [("QUIT", True), ("TERM", False)])
def test_quit_drains_in_flight_requests_and_term_does_not(openresty, signal, completes):
    nginx = openresty.inline(SLOW, workers=1, reuse=False)
    slow = in_background(lambda: httpx.get(nginx.base_url + "/slow?s=1.5", timeout=10))
    nginx.log.assert_logged("slow request on worker")  # in flight when the signal comes
    WorkerFault(nginx).signal_master(signal)
    slow["thread"].join(timeout=10)
    if completes:
        assert slow["result"].text == "done\n"
    else:
        assert "error" in slow
    wait_for(lambda: not nginx.state().get("Running"), timeout=10, what="the master to exit")


def test_usr1_reopens_the_log_files(openresty):
    nginx = openresty.inline("location = /note { content_by_lua_block { ngx.log(ngx.WARN, 'after rotation') } }",
                             workers=1, reuse=False)
    assert nginx.sh("mv /harness/logs/error.log /harness/logs/error.log.1")[0] == 0
    WorkerFault(nginx).signal_master("USR1")
    rotated = wait_for(lambda: "reopening logs" in (t := nginx.sh("cat /harness/logs/error.log.1")[1])
                       and nginx.sh("test -e /harness/logs/error.log")[0] == 0 and t,
                       timeout=10, what="the master and workers to reopen error.log")
    with nginx.client() as client:
        client.get("/note")
    nginx.log.assert_logged("after rotation")  # read from the new file
    assert "after rotation" not in rotated and "signal 10 (SIGUSR1) received" in rotated


def test_a_reload_after_log_rotation_still_works(openresty):
    """USR1 hands the log files to the workers' user; the master (root, without DAC_OVERRIDE) must
    still open them for nginx -t and the next reload."""
    nginx = openresty("hello", workers=1, reuse=False)
    WorkerFault(nginx).signal_master("USR1")
    nginx.log.assert_logged("reopening logs")
    nginx.switch(Fixture.inline("after-usr1", config="location = / { content_by_lua_block { ngx.say('switched') } }"))
    with nginx.client() as client:
        assert client.get("/").text == "switched\n"


@pytest.mark.allow_log_problems("the changing binary signal is ignored")
def test_binary_upgrade_is_refused_in_a_foreground_container(openresty):
    """USR2 + WINCH + QUIT needs a daemonized master: nginx compares its parent pid with the one it
    started with, and under `daemon off` (every container) they never differ, so it refuses, even
    with an init as PID 1. The old master keeps serving; the harness shows the refusal."""
    nginx = openresty("hello", workers=2, init=True, reuse=False)
    before = nginx.workers()
    assert before.master.pid != 1  # docker-init is PID 1
    WorkerFault(nginx).signal_master("USR2")
    nginx.log.assert_logged("the changing binary signal is ignored", level="crit")
    after = nginx.workers()
    assert [m.pid for m in after.masters] == [before.master.pid]
    assert not diff(before, after)
    with nginx.client() as client:
        assert client.get("/").status_code == 200
