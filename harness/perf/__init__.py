"""Performance-regression verdicts: baseline and candidate measured side by side in one run.

- :mod:`measure`: one interleaved measurement (locust in its own process, CPU from cgroup accounting);
- :mod:`compare`: start baseline and candidate (two images or two fixture configs) and measure them;
- :mod:`verdict`: ratios with bootstrap intervals, pass/fail against tolerances;
- :mod:`baseline`: record and load a baseline; :mod:`report`: JSON and HTML.
"""
from harness.perf.baseline import Baseline, record_baseline
from harness.perf.compare import CompareResult, Comparison, Limits, Variant, measure_pair
from harness.perf.measure import Measurement, Round, RoundsRunner, RoundsSpec
from harness.perf.verdict import DEFAULT_TOLERANCES, Ratio, Verdict, bootstrap_ratio, decide

__all__ = ["Baseline", "CompareResult", "Comparison", "DEFAULT_TOLERANCES", "Limits", "Measurement", "Ratio",
           "Round", "RoundsRunner", "RoundsSpec", "Variant", "Verdict", "bootstrap_ratio", "decide",
           "measure_pair", "record_baseline"]
