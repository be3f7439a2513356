"""HDR recording of response times, failures by kind and a per-second series; mergeable across
locust processes. No locust import here, so the class is usable (and testable) anywhere;
``harness.load.recorder`` wires one into locust's events."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from hdrh.histogram import HdrHistogram

from harness.load.env import LoadEnv

LOWEST_US, HIGHEST_US, DIGITS = 1, 120_000_000, 3
PERCENTILES = (50, 90, 99, 99.9)


class Recorder:
    def __init__(self) -> None:
        self.reset()
        self.started = time.time()
        per_user = LoadEnv.from_environ().per_user_rate
        # each user aims at rate/users requests a second: that far apart, requests are expected
        self.expected_us = int(1_000_000 / per_user) if per_user else 0

    def reset(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        self.failures: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()
        self.failed_per_second: Counter[int] = Counter()

    def record(self, response_time_ms: float, exception: BaseException | None) -> None:
        value = min(max(int(response_time_ms * 1000), LOWEST_US), HIGHEST_US)
        if self.expected_us:
            self.histogram.record_corrected_value(value, self.expected_us)
        else:
            self.histogram.record_value(value)
        second = int(time.time())
        self.per_second[second] += 1
        if exception is not None:
            self.failures[f"{type(exception).__name__}: {str(exception)[:80]}"] += 1
            self.failed_per_second[second] += 1

    def export(self) -> dict[str, Any]:
        return {"histogram": self.histogram.encode().decode(), "failures": dict(self.failures),
                "per_second": {str(k): v for k, v in self.per_second.items()},
                "failed_per_second": {str(k): v for k, v in self.failed_per_second.items()}}

    def merge(self, data: dict[str, Any]) -> None:
        self.histogram.decode_and_add(data["histogram"].encode())
        self.failures.update(data["failures"])
        self.per_second.update({int(k): v for k, v in data["per_second"].items()})
        self.failed_per_second.update({int(k): v for k, v in data["failed_per_second"].items()})

    def result(self) -> dict[str, Any]:
        h = self.histogram
        seconds = sorted(self.per_second)
        first = seconds[0] if seconds else int(self.started)
        return {
            "requests": sum(self.per_second.values()),
            "recorded": h.get_total_count(),
            "failures": dict(self.failures),
            "elapsed_s": time.time() - self.started,
            "percentiles_ms": {**{f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES},
                               "max": h.get_max_value() / 1000, "mean": h.get_mean_value() / 1000},
            "series": [{"t": s - first, "requests": self.per_second[s], "failures": self.failed_per_second[s]}
                       for s in seconds],
            "histogram": h.encode().decode(),
        }


def listen(hook: Any, listener: Callable[..., None]) -> None:
    """Register ``listener`` on a locust event hook (``events.request``, ...). locust's hooks are
    untyped, so locustfiles register by this call rather than with the ``add_listener`` decorator."""
    hook.add_listener(listener)
