"""Benchmark: `harness preflight` of a typical app (the sample app, redis-counter) end to end, its
steps (image probe, the app under its limits, luacheck), a broken config (no runtime step), and
one fresh OpenResty start for scale, interleaved in one process; plus the CLI's wall time
(Python start, stage, clean-up). Medians, ratios and raw samples: reports/bench/preflight.json.

    make bench                       # or: .venv/bin/python bench/preflight.py --rounds 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.preflight import Preflight
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "nginx-fixtures" / "redis-counter"


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_s": round(statistics.median(ordered), 3), "min_s": round(ordered[0], 3),
            "max_s": round(ordered[-1], 3), "n": len(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "preflight.json")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {k: [] for k in ("preflight_typical_app", "step_image_probe", "step_runtime",
                                                       "step_lint", "preflight_broken_config", "fresh_start",
                                                       "cli_wall")}
    with Stage.open(rootdir=ROOT) as stage:
        image = stage.resolver.resolve("openresty").describe()
        for r in range(args.rounds):
            report = Preflight(stage).run(APP)
            assert report.not_ok() == {}, report.format()
            samples["preflight_typical_app"].append(report.seconds)
            samples["step_image_probe"].append(report["config"].seconds)
            samples["step_runtime"].append(report["workers"].seconds)
            samples["step_lint"].append(report["lint"].seconds)
            broken = Preflight(stage).run(ROOT / "nginx-fixtures" / "broken-duplicate-dict")
            assert broken.not_ok() == {"config": "fail"}, broken.format()
            samples["preflight_broken_config"].append(broken.seconds)
            started = time.perf_counter()
            stage.release(stage.openresty("hello", reuse=False), reusable=False)
            samples["fresh_start"].append(time.perf_counter() - started)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "harness.cli", "preflight", "--app", str(APP), "-o",
                                   "/dev/null"], cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            samples["cli_wall"].append(time.perf_counter() - started)
            print(f"round {r + 1}/{args.rounds}: preflight {report.seconds:.2f}s "
                  f"(probe {report['config'].seconds:.2f}, "
                  f"runtime {report['workers'].seconds:.2f}, lint {report['lint'].seconds:.2f}), broken "
                  f"{broken.seconds:.2f}s, fresh start {samples['fresh_start'][-1]:.2f}s, CLI "
                  f"{samples['cli_wall'][-1]:.2f}s", file=sys.stderr)
    median = {k: statistics.median(v) for k, v in samples.items()}
    result = {
        "benchmark": "preflight",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds,
        "app": str(APP.relative_to(ROOT)),
        "image": image,
        "results": {name: summary(values) for name, values in samples.items()},
        "ratios": {"preflight_over_fresh_start": round(median["preflight_typical_app"] / median["fresh_start"], 2),
                   "cli_over_preflight": round(median["cli_wall"] / median["preflight_typical_app"], 2)},
        "samples": {name: [round(v, 3) for v in values] for name, values in samples.items()},
        "budget_s": 10.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"], indent=1), file=sys.stderr)
    print(f"written {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
