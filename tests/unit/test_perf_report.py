"""The perf report and command line without Docker: HTML/JSON from a synthetic comparison, and
bad input exits 2 (a harness error), never 1 (a regression)."""
import json

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.cli import main
from harness.load.recording import DIGITS, HIGHEST_US, LOWEST_US
from harness.perf import report
from harness.perf.compare import CompareResult, Limits, Variant
from harness.perf.measure import Measurement, Round, RoundsSpec


def synthetic(ratio: float, rounds: int = 8) -> CompareResult:
    rng = np.random.default_rng(0)
    out = []
    for k in range(rounds):
        shared = rng.lognormal(0, 0.05)
        for target, cost in ((0, 30.0), (1, 30.0 * ratio)):
            h = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
            for v in rng.lognormal(6.5, 0.4, 500):
                h.record_value(int(v))
            pct = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)}
            out.append(Round(index=k, target=target, start=1000.0 + k, duration_s=1.0, requests=3000, failures={},
                             cpu_ns=int(cost * shared * 3000 * 1000), cpu_user_ns=0,
                             percentiles_ms={**pct, "max": h.get_max_value() / 1000},
                             histogram=h.encode().decode()))
    m = Measurement(["http://a", "http://b"], RoundsSpec(rounds=rounds), out, t0=1000.0, wall_s=12.0,
                    cpu_source="test")
    return CompareResult(Variant("hello"), Variant("hello", env={"BUSY_LOOP": "9"}), Limits(), m,
                         [{"image": "img-a"}, {"image": "img-b"}], "2026-01-01T00:00:00Z")


def test_report_of_a_regression(tmp_path):
    result = synthetic(1.2)
    verdict = result.verdict()
    assert not verdict.passed
    json_path, html_path = report.write(result, verdict, tmp_path / "perf" / "compare.json")
    record = json.loads(json_path.read_text())
    assert record["verdict"]["passed"] is False and len(record["measurement"]["rounds"]) == 16
    assert CompareResult.from_json(record).measurement.rounds == result.measurement.rounds
    html = html_path.read_text()
    assert "REGRESSION" in html and "BUSY_LOOP=9" in html and html.count("data:image/png;base64,") == 2


def test_report_of_a_pass(tmp_path):
    result = synthetic(1.0)
    verdict = result.verdict()
    assert verdict.passed
    assert "PASS" in report.to_html(result, verdict)


def test_bad_perf_arguments_exit_2_before_any_container(tmp_path, capsys):
    assert main(["perf", "compare", "--gate", "p42=0.1"]) == 2
    assert main(["perf", "compare", "--rounds", "1"]) == 2
    assert main(["perf", "compare", "--baseline", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "other.json").write_text("{}")
    assert main(["perf", "compare", "--baseline", str(tmp_path / "other.json")]) == 2
    assert "harness: perf" in capsys.readouterr().err
