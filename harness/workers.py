"""The nginx process table inside a container, read from /proc (no procps needed)."""
from __future__ import annotations

from dataclasses import dataclass

# Prints one line per process: pid|contents of /proc/PID/stat|cmdline with NULs as spaces.
PROC_LISTING = r"""for d in /proc/[0-9]*; do
  s=$(cat "$d/stat" 2>/dev/null) || continue
  c=$(tr '\000' ' ' < "$d/cmdline" 2>/dev/null)
  printf '%s|%s|%s\n' "${d#/proc/}" "$s" "$c"
done"""


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str  # R, S, D, Z, T ...
    cmdline: str
    utime_ticks: int
    stime_ticks: int
    rss_pages: int

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


def parse_proc_listing(text: str) -> list[Process]:
    procs: list[Process] = []
    for line in text.splitlines():
        pid, sep, rest = line.partition("|")
        stat, sep2, cmdline = rest.rpartition("|")
        if not sep or not sep2 or ")" not in stat:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        try:
            procs.append(Process(pid=int(pid), ppid=int(fields[1]), state=fields[0], cmdline=cmdline.strip(),
                                 utime_ticks=int(fields[11]), stime_ticks=int(fields[12]),
                                 rss_pages=int(fields[21])))
        except (IndexError, ValueError):
            continue
    return procs


@dataclass(frozen=True)
class WorkerTable:
    """A snapshot of the nginx processes of one container."""

    processes: tuple[Process, ...]

    @classmethod
    def parse(cls, text: str) -> "WorkerTable":
        return cls(tuple(parse_proc_listing(text)))

    @property
    def master(self) -> Process | None:
        return next((p for p in self.processes if p.role == "master"), None)

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.role == "worker"]

    @property
    def shutting_down(self) -> list[Process]:
        return [p for p in self.processes if p.role == "shutting-down"]

    def format(self) -> str:
        rows = ["  pid   ppid st role           rss_kb  cmdline"]
        for p in self.processes:
            if p.role != "other":
                rows.append(f"{p.pid:>5} {p.ppid:>6} {p.state:>2} {p.role:<13} {p.rss_pages * 4:>7}  {p.cmdline}")
        return "\n".join(rows)
