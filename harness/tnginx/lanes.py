"""How many `.t` blocks run at once: a number the user gives, or ``auto``, which follows what the
blocks wait on rather than the CPU count.

Most blocks of real suites spend their time in ``ngx.sleep``, timers and socket timeouts, not on the
CPU, so CPU-count lanes leave the machine idle. :class:`LaneGovernor` starts at the CPU count and,
while every lane is busy and the machine's CPUs are mostly idle (the blocks wait), opens another
lane, up to a ceiling set by the CPUs and the memory (each lane holds an OpenResty container); when
the CPUs are saturated it closes lanes again, down to the CPU count. Besides, a lane whose block has
run for :data:`WAITING_AFTER` seconds is taken to wait (a block's own work takes milliseconds; seconds
are sleeps, timers and timeouts) and gets another lane beside it (while the CPUs are saturated, after
:data:`WAITING_AFTER_SATURATED` seconds), so the next blocks do not queue behind a sleeping one. It samples the host's CPU
counters (``/proc/stat``) at most every :data:`SAMPLE_EVERY` seconds, when a lane is handed its next
block; where they cannot be read it keeps the CPU count.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

SAMPLE_EVERY = 0.25  # seconds between two looks at the CPU counters
IDLE_ENOUGH = 0.5  # busy share of the CPUs under which waiting blocks get another lane
SATURATED = 0.9  # busy share over which a lane closes
WAITING_AFTER = 0.5  # seconds a block has run after which its lane counts as waiting
WAITING_AFTER_SATURATED = 3.0  # the same while the CPUs are saturated
MB_PER_LANE = 96  # memory a lane's container and its share of the harness take, generously
MAX_LANES = 16

CpuTimes = Callable[[], Optional[tuple[float, float]]]  # (busy, total) jiffies since boot, or None


def proc_stat_times(path: str = "/proc/stat") -> Optional[tuple[float, float]]:
    """The host's CPU time so far as (busy, total) from the first line of ``/proc/stat``; None
    where there is none (not Linux)."""
    try:
        with open(path) as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user time
    return total - idle, total


def available_memory_mb(path: str = "/proc/meminfo") -> Optional[int]:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class LaneBounds:
    floor: int
    ceiling: int

    @classmethod
    def of_machine(cls, cpus: Optional[int] = None, memory_mb: Optional[int] = None) -> "LaneBounds":
        """From the CPU count (floor; 4 lanes a CPU at most) and the memory available."""
        cpus = max(1, cpus or os.cpu_count() or 1)
        memory_mb = available_memory_mb() if memory_mb is None else memory_mb
        by_memory = memory_mb // MB_PER_LANE if memory_mb else MAX_LANES
        ceiling = max(1, min(MAX_LANES, 4 * cpus, by_memory))
        return cls(min(cpus, ceiling), ceiling)


class LaneGovernor:
    """``lanes(busy)``: how many lanes may run now, given ``busy`` lanes running (see the module)."""

    def __init__(self, bounds: LaneBounds, cpu_times: CpuTimes = proc_stat_times,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bounds = bounds
        self.cpu_times = cpu_times
        self.clock = clock
        self.current = bounds.floor
        self.peak = bounds.floor
        self.lock = threading.Lock()
        self._last: Optional[tuple[float, float, float]] = None  # (when, busy, total)
        self.share: Optional[float] = None  # busy share of the CPUs at the last look
        self.waiting_after = WAITING_AFTER

    @property
    def ceiling(self) -> int:
        return self.bounds.ceiling

    def lanes(self, busy: int, ran: Sequence[float] = ()) -> int:
        """Lanes that may run now: ``busy`` run, the blocks in them have run ``ran`` seconds each. A
        block that has run :data:`WAITING_AFTER` seconds waits (sleeps, a timer, a socket) and gets a
        lane beside it; while the CPUs are saturated only one that has run :data:`WAITING_AFTER_SATURATED`
        seconds does (a block's own work, slowed down by a loaded machine, may take a second)."""
        with self.lock:
            self._follow_cpus(busy)
            saturated = self.share is not None and self.share > SATURATED
            after = WAITING_AFTER_SATURATED if saturated else self.waiting_after
            waiting = sum(seconds >= after for seconds in ran)
            allowed = min(self.bounds.ceiling, self.current + waiting)
            self.peak = max(self.peak, allowed)
            return allowed

    def _follow_cpus(self, busy: int) -> None:
        now = self.clock()
        if self._last is not None and now - self._last[0] < SAMPLE_EVERY:
            return
        times = self.cpu_times()
        if times is None:
            return
        last, self._last = self._last, (now, *times)
        if last is None or times[1] <= last[2]:
            return
        self.share = (times[0] - last[1]) / (times[1] - last[2])
        if self.share < IDLE_ENOUGH and busy >= self.current and self.current < self.bounds.ceiling:
            self.current += 1
        elif self.share > SATURATED and self.current > self.bounds.floor:
            self.current -= 1

    def describe(self) -> str:
        return f"auto ({self.bounds.floor}-{self.bounds.ceiling}, up to {self.peak} used)"


Lanes = Union[int, LaneGovernor]


def lanes_of(value: str, bounds: Optional[LaneBounds] = None) -> Lanes:
    """``"auto"`` (a governor within ``bounds``, default the machine's) or a positive number."""
    if value.strip().lower() == "auto":
        return LaneGovernor(bounds or LaneBounds.of_machine())
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"lanes: give a number or auto, not {value!r}") from None
    if number < 1:
        raise ValueError(f"lanes: give a number of at least 1 or auto, not {value!r}")
    return number
