"""Run locust headless in a subprocess (gevent never enters the pytest process) and read back the
recorder's JSON: requests, failures by kind, RPS, HDR percentiles, a per-second series."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.errors import HarnessError

GENERIC_LOCUSTFILE = Path(__file__).resolve().parent / "locustfile_paths.py"


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class LoadSpec:
    users: int = 10
    duration: float = 5.0  # seconds
    spawn_rate: Optional[float] = None  # users started per second; default: all at once
    rate: Optional[float] = None  # target requests per second over all users (None: as fast as it goes)
    processes: int = 1  # locust --processes: more load generators on this machine
    paths: tuple[str, ...] = ("/",)  # for the generic locustfile
    locustfile: Optional[Path] = None  # your own; it must `import harness.load.recorder`
    client: str = "fast"  # generic locustfile: FastHttpUser ("fast") or the lean RawHttpUser ("raw")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: dict[str, int]
    elapsed_s: float
    percentiles_ms: dict[str, float]
    series: list[dict] = field(default_factory=list)
    output: str = ""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def rps(self) -> float:
        """Requests per second over the seconds that had traffic (ramp-up and tail excluded)."""
        full = [s["requests"] for s in self.series[1:-1]] or [s["requests"] for s in self.series]
        return sum(full) / len(full) if full else 0.0

    def summary(self) -> str:
        p = self.percentiles_ms
        return (f"{self.requests} requests, {self.failed} failed, {self.rps:.0f} req/s; "
                f"p50 {p['p50']:.1f} ms, p90 {p['p90']:.1f}, p99 {p['p99']:.1f}, p99.9 {p['p99.9']:.1f}, "
                f"max {p['max']:.1f}")


def locust_command(locustfile: Path, users: int, duration: float, processes: int = 1,
                   spawn_rate: Optional[float] = None) -> list[str]:
    """Headless locust: ``users`` started at ``spawn_rate`` (default: all at once), for ``duration`` s,
    in ``processes`` processes; quiet, and exit code 0 even when requests failed."""
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
           "-r", str(spawn_rate or users), "-t", f"{max(1, round(duration))}s", "--only-summary",
           "--loglevel", "WARNING", "--stop-timeout", "5", "--exit-code-on-error", "0"]
    if processes > 1:
        # The master's port on loopback, free now: two runs at once would both take locust's 5557.
        port = free_loopback_port()
        cmd += ["--processes", str(processes), "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--master-host", "127.0.0.1", "--master-port", str(port)]
    return cmd


def run_load(base_url: str, spec: LoadSpec = LoadSpec(), extra_args: tuple[str, ...] = ()) -> LoadResult:
    """Drive ``base_url`` with locust as ``spec`` says; raise :class:`HarnessError` if locust fails."""
    with tempfile.TemporaryDirectory(prefix="harness-load-") as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "HARNESS_LOAD_OUT": str(out), "HARNESS_LOAD_PATHS": ",".join(spec.paths),
               "HARNESS_LOAD_USERS": str(spec.users), "HARNESS_LOAD_RATE": str(spec.rate or ""),
               "HARNESS_LOAD_CLIENT": spec.client}
        cmd = locust_command(spec.locustfile or GENERIC_LOCUSTFILE, spec.users, spec.duration, spec.processes,
                             spawn_rate=spec.spawn_rate) + ["--host", base_url, *extra_args]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=spec.duration + 90)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"locust did not finish {spec.duration + 90:.0f}s after a {spec.duration:.0f}s run",
                               str(exc.output or "")) from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or not out.exists():
            raise HarnessError(f"locust failed (exit {proc.returncode}): see its output below", output[-4000:])
        data = json.loads(out.read_text())
    return LoadResult(requests=data["requests"], failures=data["failures"], elapsed_s=data["elapsed_s"],
                      percentiles_ms=data["percentiles_ms"], series=data["series"], output=output)
