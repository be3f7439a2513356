"""Scrape a Prometheus endpoint and read it with prometheus-client's own parser."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Metrics:
    """One scrape: every sample, looked up by name and labels."""

    samples: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> "Metrics":
        samples = []
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples.append((s.name, tuple(sorted(s.labels.items())), float(s.value)))
        return cls(tuple(samples), text)

    def value(self, name: str, **labels: str) -> float:
        """The sum of samples named ``name`` whose labels include ``labels`` (0 when none)."""
        want = set(labels.items())
        return sum(v for n, lbls, v in self.samples if n == name and want <= set(lbls))

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}

    def delta(self, earlier: "Metrics", name: str, **labels: str) -> float:
        """How much ``name`` grew since ``earlier``."""
        return self.value(name, **labels) - earlier.value(name, **labels)


def scrape(url: str, client: Optional[httpx.Client] = None, timeout: float = 5.0) -> Metrics:
    """GET ``url`` and parse it; raise on a non-200 answer or text that is not the exposition format."""
    response = (client or httpx).get(url, timeout=timeout)
    response.raise_for_status()
    return Metrics.parse(response.text)
