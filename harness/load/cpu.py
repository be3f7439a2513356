"""CPU cost per request, from the container's cgroup accounting (nanoseconds): far steadier than
requests per second on a noisy machine, and independent of how fast the load generator is."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import OpenRestyContainer

# cgroup v1 (cpuacct.usage, ns) or v2 (cpu.stat usage_usec): the container's own view.
READ_USAGE_NS = ("cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null || "
                 "cat /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage 2>/dev/null || "
                 "sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat | awk '{print $1 * 1000}'")


def cpu_usage_ns(nginx: "OpenRestyContainer") -> int:
    code, out = nginx.sh(READ_USAGE_NS)
    value = out.strip().splitlines()[0] if out.strip() else ""
    if code != 0 or not value.isdigit():
        raise HarnessError(f"cannot read the CPU accounting of {nginx.name}: {out.strip()[:200]}")
    return int(value)


class CpuMeter:
    """``with CpuMeter(nginx) as cpu: send(n)``, then ``cpu.per_request_ms(n)``.

    It counts everything the container ran (master, workers and the harness's own execs, which
    cost far less than a millisecond each), so measure over hundreds of requests.
    """

    def __init__(self, nginx: "OpenRestyContainer") -> None:
        self.nginx = nginx
        self.start_ns: Optional[int] = None
        self.used_ns: Optional[int] = None

    def __enter__(self) -> "CpuMeter":
        self.nginx.settle()
        self.start_ns = cpu_usage_ns(self.nginx)
        return self

    def __exit__(self, *exc: object) -> None:
        self.nginx.settle()
        self.used_ns = cpu_usage_ns(self.nginx) - (self.start_ns or 0)

    def per_request_ms(self, requests: int) -> float:
        if self.used_ns is None or requests <= 0:
            raise ValueError("measure first (use the meter as a context manager), over at least one request")
        return self.used_ns / requests / 1e6
