"""A comparison's record: JSON (everything, rounds included) and a standalone HTML report with the
verdict, the ratios with their intervals, and plots (PNG, embedded): latency distributions and
per-round time series of CPU per request, throughput and p99."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402

from harness import __version__  # noqa: E402
from harness.load.recording import DIGITS, HIGHEST_US, LOWEST_US  # noqa: E402
from harness.perf.compare import CompareResult  # noqa: E402
from harness.perf.verdict import METRIC_INFO, Verdict  # noqa: E402

NAMES = ("baseline", "candidate")
COLOURS = ("#1f77b4", "#d62728")
SPECTRUM = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)


def to_json(result: CompareResult, verdict: Verdict) -> dict[str, Any]:
    """The whole record: variants, containers, settings, every round, ratios and verdict."""
    return {"kind": "harness-perf-compare", "harness_version": __version__, "verdict": verdict.to_json(),
            **result.to_json()}


def merged_histogram(result: CompareResult, target: int) -> HdrHistogram:
    merged = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
    for r in result.measurement.of(target):
        if r.histogram:
            merged.add(HdrHistogram.decode(r.histogram.encode()))
    return merged


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def latency_plot(result: CompareResult) -> str:
    """Latency by percentile (log scale of 1/(1-p)), baseline and candidate, all rounds merged."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for target, (name, colour) in enumerate(zip(NAMES, COLOURS)):
        h = merged_histogram(result, target)
        if h.get_total_count() == 0:
            continue
        xs = [1 / (1 - min(p, 99.999) / 100) for p in SPECTRUM]
        ys = [h.get_value_at_percentile(p) / 1000 for p in SPECTRUM]
        ax.plot(xs, ys, marker="o", ms=3, color=colour, label=f"{name} ({h.get_total_count()} requests)")
    ax.set_xscale("log")
    ticks = [p for p in (50, 90, 99, 99.9, 99.99) if p in SPECTRUM]  # a label per decade: no overlap
    ax.minorticks_off()
    ax.set_xticks([1 / (1 - p / 100) for p in ticks], [f"p{p:g}" for p in ticks], fontsize=8)
    ax.set_ylabel("latency, ms")
    ax.set_title("latency distribution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def series_plot(result: CompareResult) -> str:
    """Per-round CPU per request, throughput and p99 over time, one line per variant."""
    m = result.measurement
    fig, axes = plt.subplots(3, 1, figsize=(8, 6.5), sharex=True)
    for target, (name, colour) in enumerate(zip(NAMES, COLOURS)):
        rounds = m.of(target)
        t = [r.start - m.t0 for r in rounds]
        for ax, metric in zip(axes, ("cpu_us_per_request", "rps", "p99")):
            ax.plot(t, [r.metric(metric) for r in rounds], marker=".", lw=1, color=colour, label=name)
    for ax, metric in zip(axes, ("cpu_us_per_request", "rps", "p99")):
        label, unit, _ = METRIC_INFO[metric]
        ax.set_ylabel(f"{label}, {unit}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("seconds since round 0")
    fig.suptitle("per round")
    return _png(fig)


TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>harness perf compare</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1000px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#17692f}.fail{color:#b00020;font-weight:bold}
code{background:#f3f3f3;padding:1px 3px}</style></head><body>
<h1 class="{{ 'pass' if verdict.passed else 'fail' }}">{{ verdict.summary() }}</h1>
<p>baseline: <code>{{ result.baseline.describe() }}</code> ({{ result.containers[0].image }})<br>
candidate: <code>{{ result.candidate.describe() }}</code> ({{ result.containers[1].image }})<br>
started {{ result.started }}; {{ spec.rounds }} rounds of {{ spec.round_s }} s ({{ spec.measured_s }} s measured,
{{ "%.0f"|format(m.wall_s) }} s in all), interleaved by {{ spec.interleave }}, {{ spec.users }} users in
{{ spec.processes }} locust processes, {{ "as fast as they go" if not spec.rate else "%g req/s"|format(spec.rate) }},
paths {{ spec.paths|join(", ") }}; each container {{ result.limits.workers }} worker(s), {{ result.limits.cpus }} CPU,
{{ result.limits.memory }}; CPU from {{ m.cpu_source }}; {{ m.total_failures }} failed requests.</p>
<table><tr><th>metric</th><th>baseline</th><th>candidate</th><th>ratio</th><th>{{ "%g"|format(verdict.confidence * 100) }} % interval</th>
<th>tolerance</th><th>change</th></tr>
{% for v in verdict.metrics %}<tr class="{{ 'fail' if v.fails else '' }}"><td>{{ v.label }} ({{ info[v.metric][1] }})</td>
<td>{{ "%.2f"|format(means[v.metric][0]) }}</td><td>{{ "%.2f"|format(means[v.metric][1]) }}</td>
<td>{{ "%.3f"|format(v.ratio.estimate) }}</td><td>{{ "%.3f"|format(v.ratio.low) }} &ndash; {{ "%.3f"|format(v.ratio.high) }}</td>
<td>{{ "%g %%"|format(v.tolerance * 100) if v.tolerance is not none else "reported" }}</td><td>{{ v.change }}</td></tr>
{% endfor %}</table>
<p>A gated metric fails when its ratio is worse than the tolerance <i>and</i> its interval (paired bootstrap
over rounds) lies entirely on the worse side of 1.</p>
<img alt="latency distribution" src="data:image/png;base64,{{ latency_png }}">
<img alt="per-round series" src="data:image/png;base64,{{ series_png }}">
</body></html>
""")


def to_html(result: CompareResult, verdict: Verdict) -> str:
    samples = result.samples()
    means = {metric: (float(a.mean()), float(b.mean())) for metric, (a, b) in samples.items()}
    return TEMPLATE.render(result=result, verdict=verdict, spec=result.measurement.spec, m=result.measurement,
                           means=means, info=METRIC_INFO, latency_png=latency_plot(result),
                           series_png=series_plot(result))


def write(result: CompareResult, verdict: Verdict, json_path: str | Path) -> tuple[Path, Path]:
    """Write ``json_path`` and the HTML report beside it (same name, ``.html``)."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(to_json(result, verdict), indent=1))
    html_path = json_path.with_suffix(".html")
    html_path.write_text(to_html(result, verdict))
    return json_path, html_path
