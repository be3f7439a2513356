"""Ratios with bootstrap confidence intervals, and the pass/fail verdict against tolerances.

Every figure is a ratio candidate / baseline of samples taken side by side in one run, so whatever
the machine did to both cancels. A metric *regresses* when its ratio is worse than the tolerance
allows and its confidence interval excludes "no change" on that side: a slowdown larger than the
tolerance that the noise cannot explain. The verdict fails if any gated metric regresses.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import numpy.typing as npt

# metric -> (label, unit, True when a higher value is worse)
METRIC_INFO: dict[str, tuple[str, str, bool]] = {
    "cpu_us_per_request": ("CPU per request", "µs", True),
    "rps": ("throughput", "req/s", False),
    "p50": ("latency p50", "ms", True),
    "p90": ("latency p90", "ms", True),
    "p99": ("latency p99", "ms", True),
    "p99.9": ("latency p99.9", "ms", True),
}
PRIMARY = "cpu_us_per_request"
DEFAULT_TOLERANCES: dict[str, float] = {PRIMARY: 0.03}


@dataclass(frozen=True)
class Ratio:
    """candidate / baseline: the point estimate and a ``confidence`` bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int  # paired samples

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ratio(baseline: npt.ArrayLike, candidate: npt.ArrayLike, *, confidence: float = 0.95,
                    resamples: int = 4000, seed: Optional[int] = 0, paired: bool = True) -> Ratio:
    """mean(candidate) / mean(baseline), with a percentile bootstrap interval.

    ``paired``: the i-th samples were taken side by side, so they are resampled together (what the
    machine did to both at that moment cancels); otherwise each side is resampled on its own.
    """
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("at least two samples a side")
    if paired and a.size != b.size:
        raise ValueError(f"paired samples need equal counts ({a.size} vs {b.size})")
    if not 0 < confidence < 1:
        raise ValueError("confidence is a fraction, e.g. 0.95")
    if a.mean() <= 0:
        raise ValueError("the baseline's mean must be positive")
    rng = np.random.default_rng(seed)
    if paired:
        idx = rng.integers(0, a.size, size=(resamples, a.size))
        ratios = b[idx].mean(axis=1) / a[idx].mean(axis=1)
    else:
        ratios = (b[rng.integers(0, b.size, size=(resamples, b.size))].mean(axis=1)
                  / a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return Ratio(float(b.mean() / a.mean()), float(low), float(high), confidence, int(min(a.size, b.size)))


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    ratio: Ratio
    tolerance: Optional[float]  # None: reported, not gated
    regressed: bool  # worse than the tolerance, and the interval excludes 1 on the worse side
    improved: bool  # better than 1, and the interval excludes 1 on the better side

    @property
    def label(self) -> str:
        return METRIC_INFO.get(self.metric, (self.metric, "", True))[0]

    @property
    def change(self) -> str:
        """How the candidate compares, in words, e.g. ``"+7.9 % (worse)"``."""
        pct = (self.ratio.estimate - 1) * 100
        if self.regressed:
            word = "worse" if self.tolerance is not None else "worse, not gated"
        elif self.improved:
            word = "better"
        elif worse_side(self.metric, self.ratio):
            word = "worse, within tolerance"
        else:
            word = "no significant change"
        return f"{pct:+.1f} % ({word})"

    @property
    def fails(self) -> bool:
        return self.tolerance is not None and self.regressed


def worse_side(metric: str, ratio: Ratio) -> bool:
    """Is the whole interval on the worse side of 1?"""
    higher_is_worse = METRIC_INFO.get(metric, ("", "", True))[2]
    return ratio.low > 1 if higher_is_worse else ratio.high < 1


def judge(metric: str, ratio: Ratio, tolerance: Optional[float]) -> MetricVerdict:
    """Regressed: the estimate is worse than ``tolerance`` (0 if None) and the interval excludes 1 there."""
    higher_is_worse = METRIC_INFO.get(metric, ("", "", True))[2]
    tol = tolerance or 0.0
    if higher_is_worse:
        regressed = ratio.estimate > 1 + tol and ratio.low > 1
        improved = ratio.high < 1
    else:
        regressed = ratio.estimate < 1 - tol and ratio.high < 1
        improved = ratio.low > 1
    return MetricVerdict(metric, ratio, tolerance, regressed, improved)


@dataclass(frozen=True)
class Verdict:
    """Pass/fail over every metric; ``exit_code`` 0 for pass, 1 for a regression."""

    metrics: tuple[MetricVerdict, ...]
    confidence: float

    @property
    def passed(self) -> bool:
        return not any(m.fails for m in self.metrics)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def metric(self, name: str) -> MetricVerdict:
        return next(m for m in self.metrics if m.metric == name)

    def summary(self) -> str:
        failing = [m for m in self.metrics if m.fails]
        if not failing:
            return "PASS: no gated metric regressed beyond its tolerance"
        return "REGRESSION: " + "; ".join(
            f"{m.label} {m.change}, ratio {m.ratio}, tolerance {m.tolerance:.0%}" for m in failing)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "summary": self.summary(), "confidence": self.confidence,
                "metrics": [{"metric": m.metric, "label": m.label, "ratio": asdict(m.ratio),
                             "tolerance": m.tolerance, "regressed": m.regressed, "improved": m.improved,
                             "change": m.change} for m in self.metrics]}


def decide(samples: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
           tolerances: Mapping[str, float] = DEFAULT_TOLERANCES, *, confidence: float = 0.95,
           seed: Optional[int] = 0, resamples: int = 4000) -> Verdict:
    """``samples``: metric -> (baseline, candidate) paired samples. Metrics with a tolerance gate the
    verdict; the others are reported."""
    unknown = set(tolerances) - set(samples)
    if unknown:
        raise ValueError(f"tolerance for metrics that were not measured: {sorted(unknown)}")
    verdicts = []
    for metric, (a, b) in samples.items():
        ratio = bootstrap_ratio(a, b, confidence=confidence, seed=seed, resamples=resamples)
        verdicts.append(judge(metric, ratio, tolerances.get(metric)))
    return Verdict(tuple(verdicts), confidence)


def parse_tolerances(items: Sequence[str], default: float) -> dict[str, float]:
    """``["cpu=0.03", "p99=0.2", "rps=0.1"]`` -> tolerances by metric; the CPU tolerance is
    ``default`` unless given. Short names: cpu, rps, throughput."""
    aliases = {"cpu": PRIMARY, "throughput": "rps"}
    result = {PRIMARY: default}
    for item in items:
        name, sep, value = item.partition("=")
        metric = aliases.get(name.strip(), name.strip())
        if not sep or metric not in METRIC_INFO:
            raise ValueError(f"tolerance {item!r}: write METRIC=FRACTION with METRIC one of "
                             f"cpu, rps, {', '.join(m for m in METRIC_INFO if m not in (PRIMARY, 'rps'))}")
        fraction = float(value)
        if not 0 <= fraction < 10:
            raise ValueError(f"tolerance {item!r}: a fraction such as 0.05 (5 %)")
        result[metric] = fraction
    return result
