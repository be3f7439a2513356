"""Performance-regression verdicts on real containers: a deliberately costlier candidate is flagged
(through the CLI, exit code 1), and a recorded baseline compared with its twin gives sound figures.
Short runs: speed itself is measured in bench/perf_verdicts.py, never asserted here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.perf import Baseline, Comparison, RoundsSpec, Variant, record_baseline
from harness.perf.verdict import PRIMARY

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHORT = RoundsSpec(rounds=6, round_s=1.0, warmup_s=1.0, rate=3000)


def test_cli_flags_a_candidate_whose_handler_burns_cpu(tmp_path):
    out = tmp_path / "compare.json"
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "perf", "compare", "--fixture", "cpu-regression",
         "--env-b", "BUSY_LOOP=3000", "--rounds", "6", "--warmup", "1", "--rate", "3000", "-o", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    print(done.stdout[-3000:], done.stderr[-3000:])
    assert done.returncode == 1, "a regression exits 1"
    assert "REGRESSION" in done.stdout and "round 6" in done.stderr  # verdict table, rich progress
    record = json.loads(out.read_text())
    cpu = next(m for m in record["verdict"]["metrics"] if m["metric"] == PRIMARY)
    assert cpu["regressed"] and cpu["ratio"]["low"] > 1.1, cpu  # 3000 iterations: far above the 3 % tolerance
    assert record["candidate"]["env"] == {"BUSY_LOOP": "3000"} and record["measurement"]["cpu_source"]
    html = out.with_suffix(".html").read_text()
    assert "REGRESSION" in html and html.count("data:image/png;base64,") == 2


def test_recorded_baseline_against_its_twin_gives_sound_figures(harness_stage, tmp_path):
    variant = Variant("hello")
    recorded = record_baseline(harness_stage, variant, RoundsSpec(rounds=3, round_s=1.0, warmup_s=1.0, rate=3000))
    path = recorded.save(tmp_path / "baseline.json")
    loaded = Baseline.load(path)
    assert loaded.medians == recorded.medians and loaded.medians["rps"] > 0
    assert loaded.pinned().image == recorded.container["image_id"]  # compare runs exactly that image

    result = Comparison(harness_stage, loaded.pinned(), variant, SHORT).run()
    m = result.measurement
    assert len(m.rounds) == 2 * SHORT.rounds and m.total_failures == 0
    for r in m.rounds:
        p = r.percentiles_ms
        assert r.requests > 0 and r.rps > 0 and 0 < r.cpu_us_per_request < 5000
        assert 0 < p["p50"] <= p["p90"] <= p["p99"] <= p["p99.9"] <= p["max"]
    verdict = result.verdict()
    for metric in verdict.metrics:
        assert metric.ratio.low <= metric.ratio.estimate <= metric.ratio.high
    cpu = verdict.metric(PRIMARY).ratio
    print(f"A/A: CPU per request ratio {cpu}, {m.wall_s:.0f} s")
    assert 0.7 < cpu.estimate < 1.3  # the same config on the same image: no large difference
