"""The host's end of the in-container agent, against a fake agent on real FIFOs, and the error.log
entries a switch causes that tests do not see."""
import os
import threading

import pytest

from harness.containers.agent import AgentLink, AgentUnavailable
from harness.errorlog import HarnessLines, LogRead


def fake_agent(directory, replies):
    """Reads one request a line, answers with replies(id, command) (a list of raw replies)."""
    def serve():
        with open(directory / "in") as requests, open(directory / "out", "wb", buffering=0) as out:
            for line in requests:
                request, command = line.rstrip("\n").split(" ", 1)
                for reply in replies(request, command):
                    out.write(reply)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def link(tmp_path):
    for name in ("in", "out"):
        os.mkfifo(tmp_path / name, 0o600)
    link = AgentLink(tmp_path)
    yield link
    link.close()


def test_a_reply_carries_code_output_and_the_agents_numbers(link, tmp_path):
    fake_agent(tmp_path, lambda rid, cmd: [f"{rid} 0 5 verdict=3.5,retire=1\nhello".encode()])
    reply = link.call("reload 2", timeout=5)
    assert (reply.code, reply.output, reply.numbers) == (0, "hello", {"verdict": 3.5, "retire": 1.0})


def test_a_late_reply_to_an_earlier_request_is_dropped(link, tmp_path):
    fake_agent(tmp_path, lambda rid, cmd: [b"999 1 3 -\nold", f"{rid} 78 3 -\nnew".encode()])
    reply = link.call("reload 3", timeout=5)
    assert (reply.code, reply.output) == (78, "new")


def test_no_agent_reading_is_unavailable_before_anything_is_sent(link):
    with pytest.raises(AgentUnavailable) as info:
        link.call("procs", timeout=0.3)
    assert info.value.sent is False  # safe to do it through the engine instead


def test_an_agent_that_does_not_answer_is_unavailable_after_the_request(link, tmp_path):
    fake_agent(tmp_path, lambda rid, cmd: [])
    with pytest.raises(AgentUnavailable) as info:
        link.call("reload 4", timeout=0.3)
    assert info.value.sent is True  # it may have acted: a second reload through the engine is not safe


def test_the_fifos_are_made_for_root_only(tmp_path):
    made = AgentLink.create(tmp_path / "ctl")
    if os.geteuid() != 0:
        assert made is None  # the container's root could not use them: docker exec instead
        return
    assert made is not None
    for name in ("in", "out"):
        assert oct((tmp_path / "ctl" / name).stat().st_mode & 0o777) == "0o600"


LOG = (
    "2026/12/02 06:00:00 [emerg] 1#1: lua_shared_dict \"cache\" is already defined\n"
    "2026/12/02 06:00:01 [notice] 1#1: signal 29 (SIGIO) received\n"
    "2026/12/02 06:00:01 [notice] 1#1: signal 17 (SIGCHLD) received from 17\n"
    "2026/12/02 06:00:01 [notice] 1#1: worker process 17 exited with code 0\n"
    "2026/12/02 06:00:01 [alert] 1#1: worker process 30 exited on signal 9\n"
    "2026/12/02 06:00:01 [notice] 1#1: worker process 31 exited with code 0\n"
)


def test_a_rejected_reload_and_retired_workers_are_hidden_and_nothing_else():
    emerg_end = len(LOG.splitlines(keepends=True)[0])
    hidden = HarnessLines(rejected=((0, emerg_end, 1),), retired=frozenset({(1, 17)}))
    kept = [e.message for e in LogRead(LOG, 0, "yes", hidden=hidden).entries()]
    assert kept == ["worker process 30 exited on signal 9", "worker process 31 exited with code 0"]
    assert len(LogRead(LOG, 0, "yes").entries()) == 6
