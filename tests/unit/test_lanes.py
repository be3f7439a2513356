"""LaneGovernor: more lanes while every lane is busy and the CPUs idle (the blocks wait), fewer when
the CPUs are saturated, within the bounds the machine sets; RunAhead follows it."""
from __future__ import annotations

import threading

import pytest

from harness.tnginx.ahead import RunAhead
from harness.tnginx.lanes import SAMPLE_EVERY, WAITING_AFTER, WAITING_AFTER_SATURATED, LaneBounds, LaneGovernor, lanes_of, proc_stat_times
from harness.waiting import wait_for


class Cpu:
    """CPU counters that advance by ``busy`` of every 100 jiffies; a clock that moves on each look."""

    def __init__(self) -> None:
        self.busy_share = 0.0
        self.busy = self.total = 0.0
        self.now = 0.0

    def times(self) -> tuple[float, float]:
        self.busy += 100 * self.busy_share
        self.total += 100
        return self.busy, self.total

    def clock(self) -> float:
        self.now += SAMPLE_EVERY
        return self.now


def governor(floor: int = 2, ceiling: int = 6) -> tuple[LaneGovernor, Cpu]:
    cpu = Cpu()
    return LaneGovernor(LaneBounds(floor, ceiling), cpu.times, cpu.clock), cpu


def test_idle_cpus_with_every_lane_busy_open_lanes_up_to_the_ceiling():
    lanes, cpu = governor()
    cpu.busy_share = 0.1
    seen = [lanes.lanes(busy=lanes.current) for _ in range(10)]
    assert seen[0] == 2 and max(seen) == 6 and seen[-1] == 6
    assert lanes.describe() == "auto (2-6, up to 6 used)"


def test_lanes_that_are_not_all_busy_open_no_more():
    lanes, cpu = governor()
    cpu.busy_share = 0.1
    assert {lanes.lanes(busy=1) for _ in range(10)} == {2}


def test_saturated_cpus_close_lanes_down_to_the_floor():
    lanes, cpu = governor()
    cpu.busy_share = 0.1
    for _ in range(6):
        lanes.lanes(busy=lanes.current)
    cpu.busy_share = 1.0
    seen = [lanes.lanes(busy=lanes.current) for _ in range(10)]
    assert seen[-1] == 2 and lanes.peak == 6


def test_without_cpu_counters_the_floor_stays():
    lanes = LaneGovernor(LaneBounds(2, 8), lambda: None)
    assert {lanes.lanes(busy=2) for _ in range(5)} == {2}


def test_bounds_follow_the_cpus_and_the_memory():
    assert LaneBounds.of_machine(cpus=2, memory_mb=24000) == LaneBounds(2, 8)
    assert LaneBounds.of_machine(cpus=2, memory_mb=300) == LaneBounds(2, 3)
    assert LaneBounds.of_machine(cpus=64, memory_mb=24000) == LaneBounds(16, 16)


def test_lanes_are_a_number_or_auto():
    assert lanes_of("3") == 3
    assert isinstance(lanes_of("auto", LaneBounds(2, 4)), LaneGovernor)
    for bad in ("0", "many"):
        with pytest.raises(ValueError, match="number"):
            lanes_of(bad)


def test_proc_stat_is_read_where_there_is_one(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert proc_stat_times(str(stat)) == (150.0, 1000.0)
    assert proc_stat_times(str(tmp_path / "absent")) is None


class Waiting:
    """A job that waits until released, counting how many such jobs run at once."""

    running = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, n: int, release: threading.Event) -> None:
        self.key, self.chain, self.estimate, self.quiet, self.release = n, None, 0.0, False, release

    def prepare(self) -> bool:
        return True

    def run(self) -> int:
        with Waiting.lock:
            Waiting.running += 1
            Waiting.most = max(Waiting.most, Waiting.running)
        self.release.wait(5)
        with Waiting.lock:
            Waiting.running -= 1
        return self.key


def test_run_ahead_runs_as_many_blocks_at_once_as_the_governor_allows():
    lanes, cpu = governor(floor=2, ceiling=5)
    cpu.busy_share = 0.0
    for _ in range(8):
        lanes.lanes(busy=lanes.current)  # the CPUs stayed idle while the lanes waited: 5 lanes
    release = threading.Event()
    jobs = [Waiting(n, release) for n in range(12)]
    ahead: RunAhead[int] = RunAhead(lanes, depth=0)
    threading.Timer(0.3, release.set).start()
    assert [ahead.result(job, jobs[i + 1:]) for i, job in enumerate(jobs)] == list(range(12))
    ahead.close()
    assert Waiting.most == 5 and ahead.describe() == "auto (2-5, up to 5 used)"


def test_each_waiting_lane_gets_one_more_beside_it_up_to_the_ceiling():
    lanes, cpu = governor(floor=2, ceiling=5)
    cpu.busy_share = 0.6  # neither idle nor saturated: the CPU rule keeps 2
    assert lanes.lanes(busy=2, ran=[0.1, 0.2]) == 2
    assert lanes.lanes(busy=2, ran=[0.1, WAITING_AFTER]) == 3
    assert lanes.lanes(busy=4, ran=[1.0] * 4) == 5
    assert lanes.peak == 5


def test_saturated_cpus_open_a_lane_only_beside_a_block_that_has_waited_long():
    lanes, cpu = governor(floor=2, ceiling=5)
    cpu.busy_share = 1.0
    lanes.lanes(busy=2)
    lanes.lanes(busy=2)  # the second look sees the share
    assert lanes.lanes(busy=2, ran=[1.0, 2.0]) == 2
    assert lanes.lanes(busy=2, ran=[1.0, WAITING_AFTER_SATURATED]) == 3


def test_run_ahead_opens_a_lane_beside_a_block_that_waits_while_pytest_waits_for_it():
    lanes = LaneGovernor(LaneBounds(1, 3), lambda: None)  # no CPU counters: the waiting rule alone
    lanes.waiting_after = 0.05
    release = threading.Event()
    Waiting.running = Waiting.most = 0
    jobs = [Waiting(n, release) for n in range(3)]
    told: list[int] = []  # what the pool hears: as many containers of a shape as lanes run now
    ahead: RunAhead[int] = RunAhead(lanes, depth=0, on_lanes=told.append)
    assert ahead.first_lanes == 1
    done: list[int] = []
    reporter = threading.Thread(target=lambda: done.extend(ahead.result(j, jobs[i + 1:]) for i, j in enumerate(jobs)))
    reporter.start()
    wait_for(lambda: Waiting.running == 3, timeout=10, what="a lane beside each waiting block")
    release.set()
    reporter.join(10)
    ahead.close()
    assert done == [0, 1, 2] and Waiting.most == 3
    assert told[:3] == [1, 2, 3] and max(told) == 3
