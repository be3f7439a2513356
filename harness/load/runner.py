"""Run locust headless in a subprocess (gevent never enters the pytest process) and read back the
recorder's JSON: requests, failures by kind, RPS, HDR percentiles, a per-second series."""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

from harness.errors import HarnessError
from harness.load.env import Client, LoadEnv
from harness.resources import shipped

GENERIC_LOCUSTFILE = shipped("harness.load", "locustfile_paths.py")


class HasBaseUrl(Protocol):
    @property
    def base_url(self) -> str: ...


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` (default 127.0.0.1) that nothing listens on (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LoadSpec:
    users: int = 10
    duration: float = 5.0  # seconds
    spawn_rate: Optional[float] = None  # users started per second; default: all at once
    rate: Optional[float] = None  # target requests per second over all users (None: as fast as it goes)
    processes: int = 1  # locust --processes: more load generators on this machine
    paths: tuple[str, ...] = ("/",)  # for the generic locustfile
    locustfile: Optional[Path] = None  # your own; it must `import harness.load.recorder`
    client: Client = "fast"  # generic locustfile: FastHttpUser ("fast") or the lean RawHttpUser ("raw")
    # Locust's distributed mode: a master that only coordinates and merges, and worker processes
    # that make the requests. ``workers`` are started here; ``remote_workers`` join from other hosts
    # (each runs the line :func:`worker_instructions` gives), so ``master_bind`` must then be an
    # address they reach.
    workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port
    workers_wait: float = 60.0  # seconds the master waits for every worker to join

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0

    def __post_init__(self) -> None:
        if self.distributed and self.processes > 1:
            raise ValueError("LoadSpec: use either processes (one machine, forked) or workers/remote_workers "
                             "(distributed mode), not both")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: dict[str, int]
    elapsed_s: float
    percentiles_ms: dict[str, float]
    series: list[dict[str, Any]] = field(default_factory=list)
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


def load_env(spec: LoadSpec, out: str = "") -> LoadEnv:
    """What the generic locustfile and the recorder read, for every locust process of a run."""
    return LoadEnv(paths=spec.paths, users=spec.users, rate=spec.rate, client=spec.client, out=out)


def worker_command(master_host: str, master_port: int, locustfile: Optional[Path] = None) -> list[str]:
    """A locust worker of a distributed run: this interpreter's locust on ``locustfile``, or (None,
    another host) the ``locust`` on its PATH fetching the locustfile from the master with ``-f -``;
    that host needs openresty-harness installed, as the locustfile imports its recorder."""
    run = [sys.executable, "-m", "locust", "-f", str(locustfile)] if locustfile else ["locust", "-f", "-"]
    return [*run, "--worker", "--master-host", master_host, "--master-port", str(master_port), "--loglevel", "WARNING"]


def worker_instructions(spec: LoadSpec, master_host: str, master_port: int) -> str:
    """The line to run on each other host of a distributed run."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in load_env(spec).to_environ().items() if v)
    return f"{env} {shlex.join(worker_command(master_host, master_port))}"


def run_load(base_url: str, spec: LoadSpec = LoadSpec(), extra_args: tuple[str, ...] = (),
             log: Callable[[str], None] = lambda line: None) -> LoadResult:
    """Drive ``base_url`` with locust as ``spec`` says; raise :class:`HarnessError` if locust fails.
    ``log`` gets progress lines (in distributed mode with remote workers: what to run on their hosts)."""
    locustfile = spec.locustfile or GENERIC_LOCUSTFILE
    with tempfile.TemporaryDirectory(prefix="harness-load-") as tmp, ExitStack() as cleanup:
        out = Path(tmp) / "result.json"
        env = {**os.environ, **load_env(spec, out=str(out)).to_environ()}
        cmd = locust_command(locustfile, spec.users, spec.duration, spec.processes, spawn_rate=spec.spawn_rate)
        limit = spec.duration + 90
        if spec.distributed:
            port = spec.master_port or free_loopback_port(spec.master_bind)
            cmd += ["--master", "--master-bind-host", spec.master_bind, "--master-bind-port", str(port),
                    "--expect-workers", str(spec.workers + spec.remote_workers),
                    "--expect-workers-max-wait", str(max(1, round(spec.workers_wait)))]
            limit += spec.workers_wait
            if spec.remote_workers:
                log(f"waiting up to {spec.workers_wait:.0f}s for {spec.remote_workers} locust worker(s) from other "
                    f"hosts; on each one run: {worker_instructions(spec, spec.master_bind, port)}")
        master = subprocess.Popen(cmd + ["--host", base_url, *extra_args], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        workers: list[subprocess.Popen[bytes]] = []
        cleanup.callback(_stop, master, workers)
        worker_logs = []
        for n in range(spec.workers):
            worker_logs.append(cleanup.enter_context(open(Path(tmp) / f"worker-{n}.log", "w+")))
            workers.append(subprocess.Popen(worker_command("127.0.0.1", port, locustfile), env=env,
                                            stdout=worker_logs[-1], stderr=subprocess.STDOUT))
        try:
            output, _ = master.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"locust did not finish {limit:.0f}s after starting a {spec.duration:.0f}s run",
                               "") from None
        if worker_logs:
            worker_logs[0].seek(0)
            output += "\n--- locust worker 0 ---\n" + worker_logs[0].read()[-2000:]
        if spec.distributed and "Gave up waiting for workers" in output:
            raise HarnessError(f"not every locust worker joined within {spec.workers_wait:.0f}s "
                               f"({spec.workers + spec.remote_workers} expected): "
                               "start the remote ones with the command logged above, or raise workers_wait",
                               output[-4000:])
        if master.returncode != 0 or not out.exists():
            raise HarnessError(f"locust failed (exit {master.returncode}): see its output below", output[-4000:])
        data = json.loads(out.read_text())
    return LoadResult(requests=data["requests"], failures=data["failures"], elapsed_s=data["elapsed_s"],
                      percentiles_ms=data["percentiles_ms"], series=data["series"], output=output)


def run_load_on(target: Union[str, HasBaseUrl], **options: Any) -> LoadResult:
    """``run_load`` on a URL or on anything with a ``base_url`` (an OpenResty container), with the
    :class:`LoadSpec` fields as keywords (``paths`` any sequence): what the ``load`` fixture is."""
    url = target if isinstance(target, str) else target.base_url
    if "paths" in options:
        options["paths"] = tuple(options["paths"])
    return run_load(url, LoadSpec(**options))


def _stop(master: subprocess.Popen[str], workers: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """Kill the master if it still runs (an error path), then give each worker ``grace`` s to quit
    as workers do when their master goes, and kill the ones that do not."""
    procs: list[tuple[subprocess.Popen[Any], float]] = [(master, 0.0), *((worker, grace) for worker in workers)]
    for proc, wait in procs:
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
