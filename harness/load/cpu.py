"""CPU cost per request, from the container's cgroup accounting (nanoseconds): far steadier than
requests per second on a noisy machine, and independent of how fast the load generator is."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

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


# Where the engine host keeps a container's CPU accounting: cgroup v1 (cgroupfs or systemd driver)
# and cgroup v2. Readable when the harness runs on the engine's host, as on a local Linux engine.
HOST_CGROUP_DIRS = ("/sys/fs/cgroup/cpuacct/docker/{id}", "/sys/fs/cgroup/cpu,cpuacct/docker/{id}",
                    "/sys/fs/cgroup/cpuacct/system.slice/docker-{id}.scope",
                    "/sys/fs/cgroup/system.slice/docker-{id}.scope", "/sys/fs/cgroup/docker/{id}")


class CgroupCpu:
    """A container's CPU time so far, in ns, read without running anything inside the container:
    from the host's cgroup files when they are visible (a few microseconds a read), else from the
    engine's stats API (``one_shot``, some milliseconds). ``source`` says which.

    :meth:`usage_ns` returns (total, user): user time is the Lua and nginx code itself; the rest is
    the kernel's (syscalls, and network softirqs the kernel happens to charge to the container).
    """

    def __init__(self, container_id: str, engine_client: Any = None) -> None:
        self.container_id = container_id
        self.engine_client = engine_client
        self.directory: Optional[str] = None
        self.v2 = False
        for pattern in HOST_CGROUP_DIRS:
            candidate = pattern.format(id=container_id)
            for name in ("cpuacct.usage", "cpu.stat"):
                try:
                    with open(f"{candidate}/{name}") as f:
                        f.read()
                except OSError:
                    continue
                self.directory, self.v2 = candidate, name == "cpu.stat"
                break
            if self.directory:
                break
        if self.directory is None and engine_client is None:
            raise HarnessError(f"no cgroup CPU accounting visible for container {container_id[:12]} "
                               "and no engine client to ask")
        self.source = "host cgroup files" if self.directory else "engine stats API"

    def usage_ns(self) -> tuple[int, int]:
        """(total, user) CPU time in ns since the container started."""
        if self.directory is not None:
            if self.v2:
                with open(f"{self.directory}/cpu.stat") as f:
                    stat = dict(line.split() for line in f if line.strip())
                return int(stat["usage_usec"]) * 1000, int(stat["user_usec"]) * 1000
            with open(f"{self.directory}/cpuacct.usage") as f:
                total = int(f.read())
            with open(f"{self.directory}/cpuacct.usage_user") as f:
                return total, int(f.read())
        usage = self.engine_client.api.stats(self.container_id, stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]
        return int(usage["total_usage"]), int(usage.get("usage_in_usermode", 0))
