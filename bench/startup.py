"""Benchmark: OpenResty start-to-ready, config switch by HUP reload vs a fresh container, and how fast
a broken config is reported. Runs the variants interleaved in one process (so machine noise hits all
alike) and writes medians, ratios and raw samples to reports/bench/startup.json.

    make bench                       # or: .venv/bin/python bench/startup.py --rounds 15
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from harness.errors import NginxConfigError
from harness.images.facts import as_record, probe
from harness.nginx_conf import Fixture
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_s": statistics.median(ordered), "min_s": ordered[0], "max_s": ordered[-1],
            "p90_s": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))], "n": len(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "startup.json")
    args = parser.parse_args()

    samples: dict[str, list[float]] = {"fresh_start": [], "hup_switch": [], "broken_config_report": []}
    fixtures = [Fixture.inline(name=f"v{i}", config=f"location = / {{ content_by_lua_block {{ ngx.say({i}) }} }}")
                for i in range(2)]
    with Stage.open(rootdir=ROOT) as stage:
        image = stage.resolver.resolve("openresty")
        facts = probe(stage.engine, image, stage.session.labels)
        print(f"openresty image: {facts.summary()}", file=sys.stderr)
        reused = stage.openresty("hello", reuse=True)  # the pool is empty: a fresh one, kept for the HUP rounds
        stage.release(reused)
        for r in range(args.rounds):
            elapsed, fresh = timed(lambda: stage.openresty(fixtures[r % 2], reuse=False))
            samples["fresh_start"].append(elapsed)
            stage.release(fresh, reusable=False)

            elapsed, switched = timed(lambda: stage.openresty(fixtures[(r + 1) % 2], reuse=True))
            assert switched is reused, "the HUP round must reuse the idle container"
            samples["hup_switch"].append(elapsed)
            stage.release(switched)

            started = time.perf_counter()
            try:
                stage.openresty("broken-duplicate-dict", reuse=False)
                raise SystemExit("the broken fixture started: the benchmark's premise is wrong")
            except NginxConfigError:
                samples["broken_config_report"].append(time.perf_counter() - started)
            print(f"round {r + 1}/{args.rounds}: fresh {samples['fresh_start'][-1]:.3f}s, "
                  f"hup {samples['hup_switch'][-1]:.3f}s, broken {samples['broken_config_report'][-1]:.3f}s",
                  file=sys.stderr)
        reach = stage.reach_mode

    result = {
        "benchmark": "startup",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds,
        "reach": reach,
        "image": as_record(facts),
        "results": {name: summary(values) for name, values in samples.items()},
        "ratios": {"fresh_over_hup_median": statistics.median(samples["fresh_start"])
                   / statistics.median(samples["hup_switch"])},
        "samples_s": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for name, s in result["results"].items():
        print(f"{name:>22}: median {s['median_s'] * 1000:7.1f} ms  (min {s['min_s'] * 1000:.1f}, "
              f"max {s['max_s'] * 1000:.1f}, n={s['n']})")
    print(f"fresh container / HUP switch (medians): {result['ratios']['fresh_over_hup_median']:.2f}x")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
