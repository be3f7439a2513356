"""A recorded baseline: what the baseline is (fixture, image id, env, limits, how it was measured)
and what it measured then.

``harness perf compare --baseline FILE`` takes the baseline's *definition* from the file and runs it
again beside the candidate: figures from another run (another hour of a shared machine) are not
comparable, so the verdict never uses the recorded figures; they are shown to spot drift.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from harness.perf.compare import Limits, Variant, describe_container, start
from harness.perf.measure import METRICS, Measurement, ProgressFn, RoundsRunner, RoundsSpec
from harness.stage import Stage

FORMAT = "harness-perf-baseline/1"


@dataclass
class Baseline:
    variant: Variant
    limits: Limits
    spec: RoundsSpec
    container: dict[str, Any]  # image, image id, versions
    medians: dict[str, float]  # per metric, over the rounds
    recorded: str  # ISO time
    measurement: Optional[Measurement] = None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "variant": self.variant.to_json(), "limits": self.limits.to_json(),
                "spec": asdict(self.spec), "container": self.container, "medians": self.medians,
                "recorded": self.recorded,
                "measurement": self.measurement.to_json() if self.measurement else None}
        path.write_text(json.dumps(data, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Baseline":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a baseline written by `harness perf baseline` ({FORMAT})")
        spec = RoundsSpec(**{**data["spec"], "paths": tuple(data["spec"]["paths"])})
        measurement = Measurement.from_json(data["measurement"]) if data.get("measurement") else None
        return cls(Variant.from_json(data["variant"]), Limits.from_json(data["limits"]), spec, data["container"],
                   data["medians"], data["recorded"], measurement)

    def pinned(self) -> Variant:
        """The variant with its image pinned to the recorded image id, so a compare runs exactly it."""
        image = self.container.get("image_id") or self.variant.image
        return Variant(self.variant.fixture, image, self.variant.env)


def record_baseline(stage: Stage, variant: Variant, spec: RoundsSpec = RoundsSpec(), limits: Limits = Limits(),
                    progress: Optional[ProgressFn] = None) -> Baseline:
    """Measure ``variant`` alone and return the record (``.save(path)`` writes it)."""
    recorded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    nginx = start(stage, variant, limits)
    try:
        measurement = RoundsRunner([nginx], spec, progress, engine_client=stage.engine.client).run()
        container = describe_container(nginx)
    finally:
        stage.release(nginx, reusable=False)
    medians = {m: float(np.median(measurement.values(0, m))) for m in METRICS}
    return Baseline(variant, limits, spec, container, medians, recorded, measurement)
