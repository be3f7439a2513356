"""The HTML scenario report: per-scenario verdicts, checks, error.log excerpts, worker tables and
latency plots (matplotlib PNGs embedded, so the file stands alone as a CI artifact)."""
from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import jinja2

from harness import __version__
from harness.scenarios.runner import ScenarioResult

TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>openresty-harness scenarios</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.passed{color:#17692f}.failed{color:#b00020;font-weight:bold}.error{color:#8a2be2;font-weight:bold}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}details{margin:.6em 0}
.check-ok{color:#17692f}.check-fail{color:#b00020}
</style></head><body>
<h1>Scenario report</h1>
<p>{{ passed }}/{{ results|length }} passed &middot; written {{ when }} &middot; openresty-harness {{ version }} &middot; engine: {{ record.get("engine") or "?" }}</p>
<p>Images: {% for kind, img in record.get("images", {}).items() %}<b>{{ kind }}</b> {{ img.get("ref") }}
 ({{ img.get("source") }}; {{ img.get("summary") or img.get("version", "")|truncate(80) }}){% if not loop.last %}; {% endif %}{% endfor %}</p>
<table><tr><th>scenario</th><th>catalogue</th><th>verdict</th><th>seconds</th><th>key numbers</th></tr>
{% for r in results %}<tr><td><a href="#s{{ loop.index }}">{{ r.name }}</a>{% if r.faulty %} <i>(faulty on purpose)</i>{% endif %}</td>
<td>{{ r.catalogue|join(", ") }}</td><td class="{{ r.verdict }}">{{ r.verdict }}</td><td>{{ "%.1f"|format(r.seconds) }}</td>
<td>{{ r.error or r.key_numbers() }}</td></tr>
{% endfor %}</table>
{% for r in results %}
<h2 id="s{{ loop.index }}" class="{{ r.verdict }}">{{ r.name }} &mdash; {{ r.verdict }}</h2>
<p><code>{{ r.source }}</code> &middot; image {{ r.image or "?" }}</p>
{% if r.error %}<pre>{{ r.error }}
{{ r.error_detail }}</pre>{% endif %}
{% for s in r.steps %}<h3>step {{ s.name }} ({{ "%.2f"|format(s.seconds) }} s)</h3>
{% if s.timeline %}<pre>{{ s.timeline|join("\n") }}</pre>{% endif %}
{% if s.failover %}<p class="failover"><b>failover timeline</b> (Sentinel): {{ s.failover|replace("failover: ", "") }}</p>{% endif %}
<ul>{% for c in s.checks %}<li class="{{ 'check-ok' if c.ok else 'check-fail' }}">{{ c.what }}{% if not c.ok %}: expected {{ c.expected }}, got {{ c.actual }}{% if c.detail %}<pre>{{ c.detail }}</pre>{% endif %}{% endif %}</li>{% endfor %}</ul>
{% endfor %}
{% if r.final %}<h3>scenario expectations</h3><ul>{% for c in r.final %}<li class="{{ 'check-ok' if c.ok else 'check-fail' }}">{{ c.what }}{% if not c.ok %}: expected {{ c.expected }}, got {{ c.actual }}{% if c.detail %}<pre>{{ c.detail }}</pre>{% endif %}{% endif %}</li>{% endfor %}</ul>{% endif %}
{% if plots[loop.index0] %}<img alt="latency" src="data:image/png;base64,{{ plots[loop.index0] }}">{% endif %}
<details><summary>error.log</summary><pre>{{ r.error_log or "(nothing logged)" }}</pre></details>
<details><summary>workers at the start and at the end</summary><pre>{{ r.workers_before }}

{{ r.workers_after }}</pre></details>
{% endfor %}
</body></html>
""")


def latency_plot(result: ScenarioResult) -> Optional[str]:
    """A PNG (base64) of the scenario's response times, and its load series if it had one."""
    latencies = result.latencies_ms
    series = result.load_series
    if len(latencies) < 2 and not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    show_latencies = len(latencies) >= 2
    count = show_latencies + bool(series)
    fig, axes = plt.subplots(1, count, figsize=(5 * count, 2.6), squeeze=False)
    panels = iter(axes[0])
    if show_latencies:
        ax = next(panels)
        ax.hist(latencies, bins=min(40, max(5, len(latencies) // 3)), color="#4477aa")
        ax.set_xlabel("response time (ms)")
        ax.set_ylabel("responses")
        ax.set_title("latency distribution", fontsize=10)
    if series:
        ax = next(panels)
        seconds = [s.get("t", i) for i, s in enumerate(series)]
        ax.plot(seconds, [s.get("requests", 0) for s in series], color="#4477aa", label="requests")
        if any(s.get("failures") for s in series):
            ax.plot(seconds, [s.get("failures", 0) for s in series], color="#aa3377", label="failed")
            ax.legend(fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("second")
        ax.set_ylabel("requests")
        ax.set_title("load, per second", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_html_report(path: Path, results: Sequence[ScenarioResult], record: Optional[dict[str, Any]] = None) -> Path:
    """Write the report for ``results`` to ``path`` (directories are made); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    html = TEMPLATE.render(results=list(results), passed=sum(r.passed for r in results),
                           when=time.strftime("%Y-%m-%d %H:%M:%S"), record=record or {}, version=__version__,
                           plots=[latency_plot(r) for r in results])
    path.write_text(html)
    return path
