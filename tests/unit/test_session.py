import os
import socket
import subprocess
import sys
from types import SimpleNamespace

from harness.session import (LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_SESSION, HarnessSession,
                             process_alive, process_start_time, sweep_stale)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_own_process_is_alive_and_dead_one_is_not():
    me = os.getpid()
    assert process_alive(me, process_start_time(me))
    assert not process_alive(dead_pid(), "")


def test_a_killed_process_not_reaped_yet_counts_as_dead():
    """A killed run whose parent has not waited for it yet (a zombie) still answers kill(pid, 0)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start_time(proc.pid)
    assert process_alive(proc.pid, start)
    proc.kill()
    from harness.waiting import wait_for

    wait_for(lambda: not process_alive(proc.pid, start), timeout=10, what="the killed process to count as dead")
    os.kill(proc.pid, 0)  # still there, unreaped: only its state says it is dead
    proc.wait()


def test_reused_pid_with_other_start_time_counts_as_dead():
    me = os.getpid()
    assert not process_alive(me, "1")


class FakeResource:
    def __init__(self, name, labels, removed):
        self.name, self.labels, self.attrs, self._removed = name, labels, {"Labels": labels}, removed

    def remove(self, **kwargs):
        self._removed.append(self.name)


class FakeCollection:
    def __init__(self, items):
        self.items = items

    def list(self, all=False, filters=None, ignore_removed=False):
        key = filters["label"].split("=")[0]
        return [i for i in self.items if key in i.labels]


def fake_engine(resources):
    client = SimpleNamespace(containers=FakeCollection(resources), networks=FakeCollection([]),
                             volumes=FakeCollection([]))
    return SimpleNamespace(client=client)


def test_sweep_removes_only_dead_runs_of_this_host():
    removed: list[str] = []
    host = socket.gethostname()
    me = os.getpid()
    live = {LABEL_SESSION: "a", LABEL_PID: str(me), LABEL_PID_START: process_start_time(me), LABEL_HOST: host}
    dead = {LABEL_SESSION: "b", LABEL_PID: str(dead_pid()), LABEL_PID_START: "", LABEL_HOST: host}
    other_host = {**dead, LABEL_SESSION: "c", LABEL_HOST: "some-other-machine"}
    resources = [FakeResource(n, labels, removed) for n, labels in
                 (("live", live), ("dead", dead), ("other", other_host))]
    result = sweep_stale(fake_engine(resources))
    assert removed == ["dead"]
    assert result.containers == ["dead"]


def test_session_labels_name_the_owner():
    session = HarnessSession(fake_engine([]), session_id="abc")
    assert session.labels[LABEL_SESSION] == "abc"
    assert session.labels[LABEL_PID] == str(os.getpid())
    assert session.labels[LABEL_HOST] == socket.gethostname()
    assert session.name("redis") == "harness-abc-redis-1"
    assert session.name("redis") == "harness-abc-redis-2"


def test_sweep_tolerates_a_container_removed_by_its_live_owner_meanwhile():
    """Two runs at once: one's sweep lists a container the other removes before it is inspected."""
    from types import SimpleNamespace

    from harness.session import remove_labelled

    calls = {}

    def list_containers(**kwargs):
        calls.update(kwargs)
        return []
    client = SimpleNamespace(containers=SimpleNamespace(list=list_containers),
                             networks=SimpleNamespace(list=lambda **kw: []),
                             volumes=SimpleNamespace(list=lambda **kw: []))
    remove_labelled(SimpleNamespace(client=client), "harness.session")
    assert calls["ignore_removed"] is True
