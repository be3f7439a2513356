"""The nginx process table inside a container, read from /proc through the engine (no procps needed).

Snapshots hold pid, ppid, state (Z and T included), RSS, CPU time, start time, open FDs and the
nofile limit; two snapshots give CPU % and a diff (died, respawned, zombies); ``health`` applies
the catalogue's thresholds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

PAGE_KB = 4
# One line per nginx process (a zombie has no cmdline: its stat still names nginx), six fields:
# pid|/proc/PID/stat|cmdline|open fds|nofile soft limit|/proc/PID/schedstat; first line:
# "clock uptime CLK_TCK" so CPU % needs no clock on the host.
PROC_LISTING = r"""printf 'clock %s %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$(getconf CLK_TCK 2>/dev/null || echo 100)"
for d in /proc/[0-9]*; do
  [ "${d#/proc/}" = "$$" ] && continue
  s=$(cat "$d/stat" 2>/dev/null) || continue
  c=$(tr '\000' ' ' < "$d/cmdline" 2>/dev/null)
  case "$c$s" in *nginx:*|*"(nginx)"*) ;; *) continue ;; esac
  n=$(ls "$d/fd" 2>/dev/null | wc -l)
  l=$(sed -n 's/^Max open files *\([0-9a-z]*\).*/\1/p' "$d/limits" 2>/dev/null)
  q=$(cat "$d/schedstat" 2>/dev/null)
  printf '%s|%s|%s|%s|%s|%s\n' "${d#/proc/}" "$s" "$c" "$n" "$l" "$q"
done"""

RSS_WARN_MB = 500
FD_WARN_RATIO = 0.8
CPU_STUCK_PERCENT = 90.0  # sustained over the sample: the worker never gets back to its event loop


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str  # R running, S sleeping, D disk, Z zombie, T stopped
    cmdline: str
    utime_ticks: int
    stime_ticks: int
    rss_pages: int
    start_ticks: int = 0  # since boot, in clock ticks
    fds: int = 0
    nofile: Optional[int] = None  # soft limit; None if unlimited or unknown
    run_ns: int = 0  # time on a CPU (schedstat); with wait_ns: time runnable, whoever else wants the CPUs
    wait_ns: int = 0  # time runnable but waiting for a CPU

    @property
    def role(self) -> str:
        """master, worker, shutting-down, cache, or other."""
        if "master process" in self.cmdline:
            return "master"
        if "worker process is shutting down" in self.cmdline:
            return "shutting-down"
        if "worker process" in self.cmdline:
            return "worker"
        if "cache " in self.cmdline:
            return "cache"
        return "other"

    @property
    def rss_mb(self) -> float:
        return self.rss_pages * PAGE_KB / 1024

    @property
    def cpu_ticks(self) -> int:
        return self.utime_ticks + self.stime_ticks


def parse_proc_listing(text: str) -> tuple[list[Process], float, int]:
    """Processes, the container's uptime in seconds, and CLK_TCK."""
    procs: list[Process] = []
    uptime, clk_tck = 0.0, 100
    for line in text.splitlines():
        if line.startswith("clock "):
            parts = line.split()
            try:
                uptime, clk_tck = float(parts[1]), int(parts[2])
            except (IndexError, ValueError):
                pass
            continue
        pid, sep, rest = line.partition("|")
        sched: tuple[int, ...] = (0, 0)
        last = rest.rsplit("|", 1)
        if rest.count("|") >= 4 and re.fullmatch(r"(\d+ \d+ \d+)?", last[1].strip()):
            rest = last[0]  # /proc/PID/schedstat: ns on a CPU, ns waiting for one, slices
            sched = tuple(int(x) for x in last[1].split()[:2]) if last[1].strip() else (0, 0)
        parts = rest.rsplit("|", 3)
        if not sep or len(parts) != 4 or ")" not in parts[0]:
            continue
        stat, cmdline, fds, nofile = parts
        fields = stat.rsplit(")", 1)[1].split()
        try:
            procs.append(Process(pid=int(pid), ppid=int(fields[1]), state=fields[0], cmdline=cmdline.strip(),
                                 utime_ticks=int(fields[11]), stime_ticks=int(fields[12]),
                                 start_ticks=int(fields[19]), rss_pages=int(fields[21]),
                                 fds=int(fds or 0), nofile=int(nofile) if nofile.strip().isdigit() else None,
                                 run_ns=sched[0], wait_ns=sched[1]))
        except (IndexError, ValueError):
            continue
    return sorted(procs, key=lambda p: p.pid), uptime, clk_tck


@dataclass(frozen=True)
class WorkerTable:
    """A snapshot of the nginx processes of one container."""

    processes: tuple[Process, ...]
    uptime: float = 0.0  # container clock (seconds since boot) when taken
    clk_tck: int = 100
    cpu_percent: dict[int, float] = field(default_factory=dict)  # filled by ``with_cpu_since``
    # % of the interval a process was running or runnable (on a CPU or waiting for one): a spinning
    # worker is near 100 % however busy the host's CPUs are; its cpu_percent is not.
    busy_percent: dict[int, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "WorkerTable":
        procs, uptime, clk_tck = parse_proc_listing(text)
        return cls(tuple(procs), uptime, clk_tck)

    @property
    def master(self) -> Optional[Process]:
        return next((p for p in self.processes if p.role == "master"), None)

    @property
    def masters(self) -> list[Process]:
        """More than one during a binary upgrade (USR2): the old master and its child, the new one."""
        return [p for p in self.processes if p.role == "master"]

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.role == "worker"]

    @property
    def shutting_down(self) -> list[Process]:
        return [p for p in self.processes if p.role == "shutting-down"]

    @property
    def zombies(self) -> list[Process]:
        return [p for p in self.processes if p.state == "Z"]

    def by_pid(self, pid: int) -> Optional[Process]:
        return next((p for p in self.processes if p.pid == pid), None)

    def without_zombies(self, pids: "set[int] | frozenset[int]") -> "WorkerTable":
        """This snapshot without the zombies among ``pids`` (workers a switch retired, which their
        master reaps once its 100 ms pause after a reload is over)."""
        kept = tuple(p for p in self.processes if not (p.state == "Z" and p.pid in pids))
        return replace(self, processes=kept) if len(kept) != len(self.processes) else self

    def with_cpu_since(self, earlier: "WorkerTable") -> "WorkerTable":
        """This snapshot with CPU % per process over the time since ``earlier``."""
        elapsed = self.uptime - earlier.uptime
        cpu: dict[int, float] = {}
        busy: dict[int, float] = {}
        if elapsed > 0:
            for p in self.processes:
                before = earlier.by_pid(p.pid)
                if before is not None and before.start_ticks == p.start_ticks:
                    cpu[p.pid] = 100.0 * (p.cpu_ticks - before.cpu_ticks) / self.clk_tck / elapsed
                    if p.run_ns or p.wait_ns:
                        runnable = (p.run_ns + p.wait_ns) - (before.run_ns + before.wait_ns)
                        busy[p.pid] = min(100.0, 100.0 * runnable / 1e9 / elapsed)
        return WorkerTable(self.processes, self.uptime, self.clk_tck, cpu, busy)

    def busy(self, pid: int) -> float:
        """Percent of the interval ``pid`` was running or waiting for a CPU (CPU % if not sampled)."""
        return self.busy_percent.get(pid, self.cpu_percent.get(pid, 0.0))

    def stuck(self, threshold: float = CPU_STUCK_PERCENT) -> list[Process]:
        """Workers that never got back to their event loop over the sample."""
        return [p for p in self.workers if self.busy(p.pid) >= threshold]

    def over_quota(self, cpu_quota: Optional[float]) -> bool:
        """More workers than a CPU quota allows (``worker_processes auto`` in a container)."""
        return cpu_quota is not None and len(self.workers) > max(1, int(cpu_quota + 0.999))

    def format(self) -> str:
        rows = ["  pid   ppid st role           rss_mb   cpu%   fds/nofile  cmdline"]
        for p in self.processes:
            cpu = f"{self.cpu_percent[p.pid]:6.1f}" if p.pid in self.cpu_percent else "     -"
            limit = str(p.nofile) if p.nofile is not None else "-"
            rows.append(f"{p.pid:>5} {p.ppid:>6} {p.state:>2} {p.role:<13} {p.rss_mb:7.1f} {cpu} "
                        f"{p.fds:>5}/{limit:<6}  {p.cmdline}")
        return "\n".join(rows)


@dataclass(frozen=True)
class WorkerDiff:
    died: tuple[Process, ...]
    respawned: tuple[Process, ...]
    zombies: tuple[Process, ...]

    def __bool__(self) -> bool:
        return bool(self.died or self.respawned or self.zombies)


def diff(before: WorkerTable, after: WorkerTable) -> WorkerDiff:
    """Workers gone since ``before``, workers new in ``after``, zombies in ``after``."""
    old = {(p.pid, p.start_ticks) for p in before.workers}
    new = {(p.pid, p.start_ticks) for p in after.workers}
    died = tuple(p for p in before.workers if (p.pid, p.start_ticks) not in new)
    respawned = tuple(p for p in after.workers if (p.pid, p.start_ticks) not in old)
    return WorkerDiff(died=died, respawned=respawned, zombies=tuple(after.zombies))


def health(table: WorkerTable, cpu_quota: Optional[float] = None, rss_warn_mb: float = RSS_WARN_MB,
           fd_warn_ratio: float = FD_WARN_RATIO, cpu_stuck: float = CPU_STUCK_PERCENT) -> list[str]:
    """What is wrong by the catalogue's thresholds; empty when healthy."""
    found: list[str] = []
    for p in table.workers:
        if p.rss_mb > rss_warn_mb:
            found.append(f"worker {p.pid} RSS {p.rss_mb:.0f} MB > {rss_warn_mb:.0f} MB")
        if p.nofile and p.fds > fd_warn_ratio * p.nofile:
            found.append(f"worker {p.pid} has {p.fds} open files > {fd_warn_ratio:.0%} of nofile {p.nofile}")
        if (busy := table.busy(p.pid)) >= cpu_stuck:
            found.append(f"worker {p.pid} at {busy:.0f}% CPU (running or waiting for a CPU): stuck in a loop?")
        if p.state == "T":
            found.append(f"worker {p.pid} is stopped (state T)")
    for p in table.zombies:
        found.append(f"process {p.pid} is a zombie (state Z): its parent {p.ppid} has not reaped it")
    if table.over_quota(cpu_quota):
        found.append(f"{len(table.workers)} workers for a CPU quota of {cpu_quota:g}: set worker_processes")
    return found
