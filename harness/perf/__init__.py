"""Performance-regression verdicts: baseline and candidate measured side by side in one run.

- :mod:`measure`: one interleaved measurement (locust in its own process, CPU from cgroup accounting);
- :mod:`compare`: start baseline and candidate (two images or two fixture configs) and measure them;
- :mod:`verdict`: ratios with bootstrap intervals, pass/fail against tolerances;
- :mod:`baseline`: record and load a baseline; :mod:`report`: JSON and HTML;
- :mod:`settings`: its option (``HARNESS_PERF_TOLERANCE``).

The names below are imported on first use (PEP 562), so that reading the perf option (``harness
options``, the pytest plugin) loads neither numpy nor locust.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.perf.baseline import Baseline, record_baseline
    from harness.perf.compare import CompareResult, Comparison, Limits, Variant, measure_pair
    from harness.perf.measure import Measurement, Round, RoundsRunner, RoundsSpec
    from harness.perf.verdict import DEFAULT_TOLERANCES, Ratio, Verdict, bootstrap_ratio, decide

WHERE = {"baseline": ("Baseline", "record_baseline"),
         "compare": ("CompareResult", "Comparison", "Limits", "Variant", "measure_pair"),
         "measure": ("Measurement", "Round", "RoundsRunner", "RoundsSpec"),
         "verdict": ("DEFAULT_TOLERANCES", "Ratio", "Verdict", "bootstrap_ratio", "decide")}
MODULE_OF = {name: module for module, names in WHERE.items() for name in names}

__all__ = sorted(MODULE_OF)


def __getattr__(name: str) -> Any:
    module = MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.perf' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.perf.{module}"), name)
