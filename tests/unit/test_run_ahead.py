"""RunAhead (harness.tnginx.ahead): blocks run ahead of pytest in lanes, the long ones first, a chain's
blocks one at a time in order; each result is its own job's, reported in pytest's order. Jobs here are
plain objects gated by events."""
import threading
from dataclasses import dataclass, field

import pytest

from harness.tnginx.ahead import RunAhead
from harness.waiting import wait_for

WAIT = 10.0  # seconds any event here may take: a deadline, never a pause


@dataclass(eq=False)
class Gate:
    """Counts the jobs running at once; every job records what ran beside it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: set = field(default_factory=set)
    most: int = 0
    log: list = field(default_factory=list)  # ("start" | "end", key) in order
    changed: threading.Condition = field(init=False)

    def __post_init__(self):
        self.changed = threading.Condition(self.lock)

    def wait_ended(self, n):
        """Whether ``n`` jobs have ended within the deadline."""
        with self.changed:
            return self.changed.wait_for(lambda: sum(what == "end" for what, _ in self.log) >= n, WAIT)

    def enter(self, key):
        with self.lock:
            self.running.add(key)
            self.most = max(self.most, len(self.running))
            self.log.append(("start", key))
            return set(self.running) - {key}

    def leave(self, key):
        with self.lock:
            self.running.discard(key)
            self.log.append(("end", key))
            self.changed.notify_all()


@dataclass(eq=False)
class FakeJob:
    key: str
    gate: Gate
    chain: object = None
    estimate: float = 0.0
    quiet: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    prepared: int = 0
    prepare_answers: list = field(default_factory=list)  # what prepare() returns, in turn (then True)
    beside: set = field(default_factory=set)

    def prepare(self):
        self.prepared += 1
        return self.prepare_answers.pop(0) if self.prepare_answers else True

    def run(self):
        self.beside = self.gate.enter(self.key)
        self.started.set()
        assert self.release.wait(WAIT)
        self.gate.leave(self.key)
        return f"result of {self.key}"


def jobs(gate, n, chained=(), estimates=None):
    return [FakeJob(f"j{i}", gate, chain="redis" if i in chained else None,
                    estimate=(estimates or {}).get(i, 0.0)) for i in range(n)]


def drive(ahead, js):
    """Report the jobs in order as pytest would, from another thread (giving the jobs that follow
    only while the run-ahead does not know the job, as TBlockItem does); returns the results."""
    out = []

    def run():
        for i, job in enumerate(js):
            out.append(ahead.result(job, [] if ahead.knows(job.key) else js[i + 1:]))
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_two_lanes_run_the_next_job_while_the_first_is_reported():
    gate = Gate()
    js = jobs(gate, 2)
    ahead = RunAhead(lanes=2)
    t, out = drive(ahead, js)
    assert js[0].started.wait(WAIT) and js[1].started.wait(WAIT)  # both run before either ends
    for j in js:
        j.release.set()
    t.join(WAIT)
    assert out == ["result of j0", "result of j1"]
    assert gate.most == 2 and ahead.started_ahead == 1
    ahead.close()


def test_one_lane_runs_one_job_at_a_time_and_prepares_the_next():
    gate = Gate()
    js = jobs(gate, 3)
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=1, depth=2)
    t, out = drive(ahead, js)
    t.join(WAIT)
    assert out == [f"result of j{i}" for i in range(3)]
    assert gate.most == 1  # the next may start as soon as one ends, while pytest reports it
    assert [j.prepared for j in js] == [1, 1, 1]  # each once: ahead of its turn, not again at it
    ahead.close()


def test_a_lane_that_ends_early_takes_the_next_job_while_a_slow_one_is_reported():
    gate = Gate()
    js = jobs(gate, 4)
    for j in js[1:]:
        j.release.set()
    ahead = RunAhead(lanes=2)
    t, out = drive(ahead, js)
    assert js[3].started.wait(WAIT)  # j1, j2, j3 ran one after the other beside the slow j0
    js[0].release.set()
    t.join(WAIT)
    assert out == [f"result of j{i}" for i in range(4)]
    assert ahead.started_ahead == 3 and gate.most == 2
    ahead.close()


def test_a_chains_jobs_run_one_at_a_time_in_order_beside_the_others():
    gate = Gate()
    js = jobs(gate, 6, chained={1, 3, 4})
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=3)
    t, out = drive(ahead, js)
    t.join(WAIT)
    assert out == [f"result of j{i}" for i in range(6)]
    chain = [k for what, k in gate.log if k in ("j1", "j3", "j4")]
    assert chain == ["j1", "j1", "j3", "j3", "j4", "j4"]  # each ended before the next started, in order
    ahead.close()


def test_a_chain_job_waits_for_the_one_before_it_while_other_lanes_work():
    gate = Gate()
    js = jobs(gate, 4, chained={0, 1})
    for j in js[2:]:
        j.release.set()
    ahead = RunAhead(lanes=2)
    t, out = drive(ahead, js)
    assert js[0].started.wait(WAIT)
    assert gate.wait_ended(2)  # j2 and j3 ran beside the chain's first job
    assert not js[1].started.is_set()  # the chain's second job did not pass its first
    js[0].release.set()
    assert js[1].started.wait(WAIT)
    js[1].release.set()
    t.join(WAIT)
    assert out == [f"result of j{i}" for i in range(4)]
    ahead.close()


def test_the_longest_jobs_start_first_and_results_keep_pytests_order():
    gate = Gate()
    js = jobs(gate, 5, estimates={3: 5.0, 1: 2.0, 4: 0.1})
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=1)
    t, out = drive(ahead, js)
    t.join(WAIT)
    assert ahead.started == ["j3", "j1", "j0", "j2", "j4"]  # long ones by length, then the files' order
    assert out == [f"result of j{i}" for i in range(5)]
    ahead.close()


def test_a_long_chain_starts_first_with_its_jobs_in_order():
    gate = Gate()
    js = jobs(gate, 5, chained={2, 4}, estimates={2: 0.3, 4: 0.4, 0: 0.6})
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=1)
    t, out = drive(ahead, js)
    t.join(WAIT)
    assert ahead.started == ["j2", "j4", "j0", "j1", "j3"]  # the chain weighs 0.7 s in all
    ahead.close()


def test_a_quiet_job_runs_alone_after_the_others_started_and_nothing_is_prepared_while_it_runs():
    """A quiet job (a block racing its timers) starts once every other job has started and the lanes are
    empty, and runs alone; a quiet job of a chain keeps its place in the chain: it waits for the lanes
    to empty there, nothing passes it, and while it runs no container is prepared for the jobs after it."""
    gate = Gate()
    js = jobs(gate, 6, chained=(3, 4))
    js[1].quiet = js[3].quiet = True
    ahead = RunAhead(lanes=2, depth=3)
    t, out = drive(ahead, js)
    assert js[0].started.wait(WAIT) and js[2].started.wait(WAIT)  # j1 waits: it goes last
    js[0].release.set()
    js[2].release.set()
    assert js[3].started.wait(WAIT)  # the chain's quiet job, once the lanes emptied
    prepared_then = [j.prepared for j in js[4:]]
    assert js[3].beside == set() and not js[4].started.is_set() and not js[5].started.is_set()
    assert [j.prepared for j in js[4:]] == prepared_then  # nothing prepared while it runs
    for j in js[3:]:
        j.release.set()
    assert js[1].started.wait(WAIT)
    js[1].release.set()
    t.join(WAIT)
    assert out == [f"result of j{i}" for i in range(6)]  # reported in pytest's order all the same
    starts = [key for what, key in gate.log if what == "start"]
    assert starts[-1] == "j1" and js[1].beside == set()
    assert gate.log.index(("end", "j3")) < gate.log.index(("start", "j4"))
    ahead.close()


def test_a_prepare_that_says_not_now_is_asked_again_later():
    gate = Gate()
    js = jobs(gate, 3)
    js[2].prepare_answers = [False]
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=1, depth=2)
    t, out = drive(ahead, js)
    t.join(WAIT)
    assert js[2].prepared == 2 and js[1].prepared == 1
    ahead.close()


def test_a_job_that_raises_fails_its_own_result_only():
    gate = Gate()

    class Broken(FakeJob):
        def run(self):
            raise RuntimeError("boom")
    js = [FakeJob("j0", gate), Broken("j1", gate), FakeJob("j2", gate)]
    for j in js:
        j.release.set()
    ahead = RunAhead(lanes=2)
    assert ahead.result(js[0], js[1:]) == "result of j0"
    with pytest.raises(RuntimeError, match="boom"):
        ahead.result(js[1], js[2:])
    assert ahead.result(js[2]) == "result of j2"
    ahead.close()


def test_after_close_a_job_that_ends_starts_no_other():
    gate = Gate()
    js = jobs(gate, 2)
    ahead = RunAhead(lanes=1)
    t = threading.Thread(target=ahead.result, args=(js[0], js[1:]))
    t.start()
    assert js[0].started.wait(WAIT)
    closer = threading.Thread(target=ahead.close)
    closer.start()
    wait_for(lambda: ahead.closed, timeout=WAIT, what="close() to begin")  # a loaded machine may lag it
    js[0].release.set()
    closer.join(WAIT)
    t.join(WAIT)
    assert not closer.is_alive() and not js[1].started.is_set() and js[1].prepared == 1


def test_a_lane_keeps_running_short_jobs_while_another_runs_a_long_one():
    # lua-resty-lrucache: a block sleeping 1.4 s beside dozens of 10 ms blocks; the other lane must
    # not stop after the first few for want of jobs it may see
    gate = Gate()
    js = jobs(gate, 41)
    for job in js[1:]:
        job.release.set()
    ahead = RunAhead(lanes=2)
    t, out = drive(ahead, js)
    assert js[0].started.wait(WAIT)
    assert gate.wait_ended(32), "the other lane stopped while the long job held the first"
    js[0].release.set()
    t.join(WAIT)
    ahead.close()
    assert out == [f"result of j{i}" for i in range(41)]
