"""One measurement run: interleaved fixed-length rounds against one or more running OpenResty
containers, with each round's requests, failures, latency histogram and CPU time.

One locust run (its own process, ``locustfile_rounds.py``) drives every round, switching target by
the clock; a sampler thread here reads each container's cgroup CPU accounting every few
milliseconds, and the CPU of a round is the difference at its two boundaries. Nothing runs inside
the containers while they are measured.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Sequence, get_args

import numpy as np

from harness.errors import HarnessError
from harness.load.cpu import CgroupCpu
from harness.load.env import LoadEnv
from harness.load.runner import locust_command
from harness.resources import shipped
from harness.waiting import wait_for

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers import OpenRestyContainer

LOCUSTFILE = shipped("harness.perf", "locustfile_rounds.py")
SAMPLE_INTERVAL_S = 0.01
Interleave = Literal["requests", "rounds"]
# per round: the figures a verdict can compare (all from the round alone)
METRICS = ("cpu_us_per_request", "rps", "p50", "p90", "p99", "p99.9")


@dataclass(frozen=True)
class RoundsSpec:
    """How to measure: ``rounds`` windows of ``round_s`` seconds, after ``warmup_s`` of warm-up.

    ``interleave="requests"`` (default): every round drives every target, request by request
    (A B A B ...), so all of them share each moment's machine noise; measured here, that makes the
    CPU-per-request ratio about four times steadier than whole rounds. ``"rounds"``: each round
    drives one target with the whole load (A B, B A, A B, ...; ``rounds`` must then be even), which
    is what a throughput comparison at full speed needs.
    """

    rounds: int = 30
    round_s: float = 1.0
    warmup_s: float = 2.0  # every target in turn, before round 0
    users: int = 32  # over all locust processes
    processes: int = 2  # locust --processes
    rate: Optional[float] = 6000.0  # requests/s over all users and targets; None: as fast as the driver goes
    paths: tuple[str, ...] = ("/",)
    interleave: Interleave = "requests"

    def __post_init__(self) -> None:
        if self.interleave not in get_args(Interleave):
            raise ValueError(f"interleave is 'requests' or 'rounds', not {self.interleave!r}")
        if self.rounds < 2 or self.round_s <= 0:
            raise ValueError("at least 2 rounds of a positive length")

    @property
    def measured_s(self) -> float:
        """Seconds of measurement (what a verdict costs; warm-up and start-up excluded)."""
        return self.rounds * self.round_s


def schedule(targets: int, rounds: int) -> list[int]:
    """Target index per round (interleaving by rounds). Two targets: A B, B A, A B, ... (each pair
    balanced against drift). One target: every round on it. More: rotations of 0..n-1."""
    if targets == 1:
        return [0] * rounds
    if targets == 2:
        return [(0, 1, 1, 0)[k % 4] for k in range(rounds)]
    return [(k // targets + k) % targets for k in range(rounds)]


@dataclass(frozen=True)
class Round:
    """One round on one target: ``cpu_ns`` is the container's CPU time between the round's boundaries."""

    index: int
    target: int
    start: float  # wall-clock time (time.time())
    duration_s: float
    requests: int
    failures: dict[str, int]
    cpu_ns: int
    percentiles_ms: dict[str, float]
    histogram: str = ""  # HDR histogram, encoded (microseconds)
    cpu_user_ns: int = 0  # the user-mode part of cpu_ns

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_ns / 1000 / self.requests if self.requests else float("nan")

    @property
    def user_us_per_request(self) -> float:
        return self.cpu_user_ns / 1000 / self.requests if self.requests else float("nan")

    def metric(self, name: str) -> float:
        if name in ("cpu_us_per_request", "user_us_per_request", "rps"):
            value: float = getattr(self, name)
            return value
        return self.percentiles_ms[name]


@dataclass
class Measurement:
    """Every round of one run, and what it ran against."""

    targets: list[str]  # base URLs, index = Round.target
    spec: RoundsSpec
    rounds: list[Round]
    t0: float
    wall_s: float  # from starting locust to its result
    cpu_source: str
    driver_output: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def of(self, target: int) -> list[Round]:
        return [r for r in self.rounds if r.target == target]

    def values(self, target: int, metric: str) -> np.ndarray:
        return np.array([r.metric(metric) for r in self.of(target)], dtype=float)

    def paired(self, metric: str, a: int = 0, b: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``metric`` of targets ``a`` and ``b`` side by side: per round (interleaving by requests)
        or per pair of consecutive rounds (A B or B A, interleaving by rounds)."""
        span = 1 if self.spec.interleave == "requests" else 2
        groups: dict[int, dict[int, Round]] = {}
        for r in self.rounds:
            groups.setdefault(r.index // span, {})[r.target] = r
        pairs = [(g[a].metric(metric), g[b].metric(metric)) for _, g in sorted(groups.items()) if a in g and b in g]
        return (np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float))

    @property
    def total_failures(self) -> int:
        return sum(r.failed for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {"targets": self.targets, "spec": asdict(self.spec), "t0": self.t0, "wall_s": self.wall_s,
                "cpu_source": self.cpu_source, "meta": self.meta,
                "rounds": [{**asdict(r), "rps": r.rps, "cpu_us_per_request": r.cpu_us_per_request,
                            "user_us_per_request": r.user_us_per_request}
                           for r in self.rounds]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Measurement":
        spec = RoundsSpec(**{**data["spec"], "paths": tuple(data["spec"]["paths"])})
        fields_ = Round.__dataclass_fields__
        rounds = [Round(**{k: v for k, v in r.items() if k in fields_}) for r in data["rounds"]]
        return cls(targets=data["targets"], spec=spec, rounds=rounds, t0=data["t0"], wall_s=data["wall_s"],
                   cpu_source=data["cpu_source"], meta=data.get("meta", {}))


class CpuSampler:
    """Reads several containers' CPU counters every ``interval`` seconds in a thread; ``at(t)``
    interpolates each counter at wall-clock time ``t``."""

    def __init__(self, meters: Sequence[CgroupCpu], interval: float = SAMPLE_INTERVAL_S) -> None:
        self.meters = list(meters)
        self.interval = interval
        self.times: list[float] = []
        self.samples: list[list[tuple[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-cpu-sampler", daemon=True)
        self.error: Optional[BaseException] = None

    def _sample(self) -> None:
        before = time.time()
        values = [m.usage_ns() for m in self.meters]
        self.times.append((before + time.time()) / 2)
        self.samples.append(values)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._sample()
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - reported by at()
            self.error = exc

    def __enter__(self) -> "CpuSampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()

    def at(self, target: int, t: float, part: int = 0) -> float:
        """Counter ``part`` (0: total, 1: user) of ``target`` at time ``t``, interpolated."""
        if self.error is not None:
            raise HarnessError(f"reading CPU accounting failed: {self.error}")
        n = len(self.samples)  # the thread appends the time first: take as many of each
        return float(np.interp(t, self.times[:n], [s[target][part] for s in self.samples[:n]]))

    def used_ns(self, target: int, start: float, end: float, part: int = 0) -> int:
        return int(round(self.at(target, end, part) - self.at(target, start, part)))


ProgressFn = Callable[[str, dict[str, Any]], None]  # (event, details): "warming", "round", "done"


class RoundsRunner:
    """Runs :class:`RoundsSpec` against containers (index 0 first in each A/B pair's label order).

    ``progress("warming", {...})``, then ``progress("round", {"index", "target", "cpu_ms", "of"})``
    after every round, as the clock passes its end (requests are known only at the end of the run).
    """

    def __init__(self, containers: Sequence["OpenRestyContainer"], spec: RoundsSpec,
                 progress: Optional[ProgressFn] = None, engine_client: Any = None) -> None:
        if not containers:
            raise ValueError("at least one container to measure")
        self.containers = list(containers)
        self.spec = spec
        self.progress = progress or (lambda event, details: None)
        self.engine_client = engine_client

    def _locust_command(self) -> list[str]:
        limit = self.spec.warmup_s + self.spec.measured_s + 120  # a safety net: the master quits after the last round
        return locust_command(LOCUSTFILE, self.spec.users, limit, self.spec.processes)

    def run(self) -> Measurement:
        spec = self.spec
        order = schedule(len(self.containers), spec.rounds)
        targets = [c.base_url for c in self.containers]
        meters = [CgroupCpu(c.get_container_id(), self.engine_client) for c in self.containers]
        started = time.time()
        with tempfile.TemporaryDirectory(prefix="harness-perf-") as tmp:
            control = Path(tmp)
            env = {**os.environ, **LoadEnv(paths=spec.paths, users=spec.users, rate=spec.rate, targets=tuple(targets),
                                           schedule=tuple(order), round_s=spec.round_s, control=str(control),
                                           interleave=spec.interleave).to_environ()}
            log_path = control / "locust.log"
            with log_path.open("w") as log, CpuSampler(meters) as sampler:
                proc = subprocess.Popen(self._locust_command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
                try:
                    t0 = self._start_rounds(proc, control, log_path)
                    self._follow_rounds(proc, t0, order, sampler, log_path)
                    try:
                        proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        raise HarnessError("locust did not quit within 60 s after the last round",
                                           log_path.read_text()[-4000:]) from None
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=10)
            output = log_path.read_text()
            result_path = control / "result.json"
            if proc.returncode != 0 or not result_path.exists():
                raise HarnessError(f"locust failed (exit {proc.returncode}): see its output below", output[-4000:])
            data = json.loads(result_path.read_text())
        rounds = []
        for r in data["rounds"]:
            start = t0 + r["index"] * spec.round_s
            rounds.append(Round(index=r["index"], target=r["target"], start=start, duration_s=spec.round_s,
                                requests=r["requests"], failures=r["failures"],
                                cpu_ns=sampler.used_ns(r["target"], start, start + spec.round_s),
                                cpu_user_ns=sampler.used_ns(r["target"], start, start + spec.round_s, part=1),
                                percentiles_ms=r["percentiles_ms"], histogram=r["histogram"]))
        expected = ({(k, t) for k in range(len(order)) for t in range(len(targets))} if spec.interleave == "requests"
                    else set(enumerate(order)))
        missing = sorted(expected - {(r.index, r.target) for r in rounds})
        if missing:
            raise HarnessError(f"(round, target) {missing[:5]} got no requests at all: is a target down?",
                               output[-4000:])
        return Measurement(targets=targets, spec=spec, rounds=rounds, t0=t0, wall_s=time.time() - started,
                           cpu_source=meters[0].source, driver_output=output[-4000:])

    def _start_rounds(self, proc: subprocess.Popen[Any], control: Path, log_path: Path) -> float:
        def spawned() -> bool:
            if proc.poll() is not None:
                raise HarnessError(f"locust exited (code {proc.returncode}) before its users ran",
                                   log_path.read_text()[-4000:])
            return (control / "spawned").exists()

        wait_for(spawned, timeout=60, what="locust to start its users")
        t0 = time.time() + self.spec.warmup_s
        (control / "start.tmp").write_text(repr(t0))
        (control / "start.tmp").rename(control / "start")
        self.progress("warming", {"seconds": self.spec.warmup_s, "rounds": 0})
        return t0

    def _follow_rounds(self, proc: subprocess.Popen[Any], t0: float, order: list[int], sampler: CpuSampler,
                       log_path: Path) -> None:
        round_s = self.spec.round_s
        for k, target in enumerate(order):
            end = t0 + (k + 1) * round_s

            def over() -> bool:
                if proc.poll() is not None:
                    raise HarnessError(f"locust exited (code {proc.returncode}) during round {k}",
                                       log_path.read_text()[-4000:])
                return time.time() >= end

            wait_for(over, timeout=max(0.0, end - time.time()) + 30, what=f"round {k} to end",
                     interval=0.02, max_interval=0.1)
            now = min(end, sampler.times[-1])
            busy = range(len(self.containers)) if self.spec.interleave == "requests" else [target]
            self.progress("round", {"index": k, "of": len(order),
                                    "cpu_ms": {t: sampler.used_ns(t, end - round_s, now) / 1e6 for t in busy}})
