"""Baseline against candidate, side by side in one run: two images, or two fixture configs.

Both containers run at the same time on one Stage with the same limits; one measurement drives
both, interleaved (see :class:`harness.perf.measure.RoundsSpec`); :func:`decide` turns the paired
samples into ratios with bootstrap intervals and a verdict.

    with Stage.open() as stage:
        result = Comparison(stage, Variant("hello"), Variant("hello", image="me/openresty:next")).run()
    print(result.verdict().summary())
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from harness.perf.measure import METRICS, Measurement, ProgressFn, RoundsRunner, RoundsSpec
from harness.openresty_spec import OpenRestyOptions, OpenRestySpec, Workers
from harness.perf.verdict import DEFAULT_TOLERANCES, Verdict, decide
from harness.stage import Stage

if TYPE_CHECKING:
    import numpy as np

    from harness.containers import OpenRestyContainer


@dataclass(frozen=True)
class Variant:
    """What runs: a fixture (name or directory), an image reference (empty: the session's OpenResty
    image) and environment for the fixture (``env``: also ``${NAME}`` in its config)."""

    fixture: str
    image: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return " ".join(x for x in (self.fixture, f"image {self.image}" if self.image else "", env) if x)

    def to_json(self) -> dict[str, Any]:
        return {"fixture": self.fixture, "image": self.image, "env": dict(self.env)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Variant":
        return cls(fixture=str(data["fixture"]), image=data.get("image", ""), env=dict(data.get("env", {})))


COMPARED = OpenRestyOptions(workers=1, cpus=1.0, memory="256m", reuse=False)  # unless told otherwise


@dataclass(frozen=True)
class Limits:
    """The same for every container of a comparison: its OpenResty options (by default a fresh
    container with 1 worker, 1 CPU, 256 MB: :data:`COMPARED`) and whether the session's Redis is
    started first (fixtures that use it)."""

    options: OpenRestyOptions = COMPARED
    redis: bool = False

    @classmethod
    def of(cls, redis: bool = False, **options: Any) -> "Limits":
        """``Limits.of(workers=2, cpus=2.0)``: :data:`COMPARED` with these options changed."""
        return cls(OpenRestyOptions(**{**COMPARED.options(), **options}), redis)

    @property
    def workers(self) -> Workers:
        return self.options.workers

    @property
    def cpus(self) -> Optional[float]:
        return self.options.cpus

    @property
    def memory(self) -> Optional[str]:
        return self.options.memory

    def to_json(self) -> dict[str, Any]:
        return {"workers": self.workers, "cpus": self.cpus, "memory": self.memory, "redis": self.redis}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Limits":
        return cls.of(**data)


def spec_of(stage: Stage, variant: Variant, limits: Limits) -> OpenRestySpec:
    """The :class:`OpenRestySpec` of ``variant`` under ``limits``: always a fresh container (a
    comparison wants equal, new containers)."""
    return stage.spec(variant.fixture, **{**limits.options.options(), "image": variant.image, "env": dict(variant.env),
                                          "reuse": False, "services": ("redis",) if limits.redis else ()})


def start(stage: Stage, variant: Variant, limits: Limits) -> "OpenRestyContainer":
    """A fresh OpenResty for ``variant`` (never a pooled one)."""
    return stage.openresty(spec_of(stage, variant, limits))


def describe_container(nginx: "OpenRestyContainer") -> dict[str, Any]:
    """Image and versions of a running OpenResty, for the record."""
    return {"image": nginx.resolved.ref, "image_id": nginx.resolved.id, "image_source": nginx.resolved.source,
            "identity": dict(nginx.identity), "url": nginx.base_url}


@dataclass
class CompareResult:
    baseline: Variant
    candidate: Variant
    limits: Limits
    measurement: Measurement
    containers: list[dict[str, Any]]  # baseline's, candidate's: image and versions
    started: str  # ISO time

    def samples(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {m: self.measurement.paired(m) for m in METRICS}

    def verdict(self, tolerances: Mapping[str, float] = DEFAULT_TOLERANCES, confidence: float = 0.95,
                seed: Optional[int] = 0) -> Verdict:
        return decide(self.samples(), tolerances, confidence=confidence, seed=seed)

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline.to_json(), "candidate": self.candidate.to_json(),
                "limits": self.limits.to_json(), "containers": self.containers, "started": self.started,
                "measurement": self.measurement.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CompareResult":
        return cls(baseline=Variant.from_json(data["baseline"]), candidate=Variant.from_json(data["candidate"]),
                   limits=Limits.from_json(data["limits"]), measurement=Measurement.from_json(data["measurement"]),
                   containers=list(data["containers"]), started=data["started"])


class Comparison:
    """Start baseline and candidate on ``stage``, measure them interleaved, stop them."""

    def __init__(self, stage: Stage, baseline: Variant, candidate: Variant, spec: RoundsSpec = RoundsSpec(),
                 limits: Limits = Limits(), progress: Optional[ProgressFn] = None) -> None:
        self.stage = stage
        self.baseline = baseline
        self.candidate = candidate
        self.spec = spec
        self.limits = limits
        self.progress = progress

    def run(self) -> CompareResult:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        containers = []
        try:
            for variant in (self.baseline, self.candidate):
                containers.append(start(self.stage, variant, self.limits))
            measurement = measure_pair(self.stage, containers[0], containers[1], self.spec, self.progress)
        finally:
            for nginx in containers:
                self.stage.release(nginx, reusable=False)
        return CompareResult(self.baseline, self.candidate, self.limits, measurement,
                             [describe_container(c) for c in containers], started)


def measure_pair(stage: Stage, baseline: "OpenRestyContainer", candidate: "OpenRestyContainer", spec: RoundsSpec = RoundsSpec(),
                 progress: Optional[ProgressFn] = None) -> Measurement:
    """Measure two running containers side by side (for callers that keep them across verdicts)."""
    return RoundsRunner([baseline, candidate], spec, progress, engine_client=stage.engine.client).run()


def default_report_path(reports_dir: str | Path, kind: str) -> Path:
    """``reports/perf/<kind>-<UTC time>.json``."""
    return Path(reports_dir) / "perf" / f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
