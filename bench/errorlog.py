"""Benchmark: how long an error.log check takes right after a request.

Times, interleaved in one run: a negative check (settle on the workers' heartbeats + read through
the control server), a positive check of a line written in the log phase, and, as the baseline, a
plain read of the file through ``docker exec`` (what the harness falls back to). Writes medians,
ratios and samples to reports/bench/errorlog.json.

    make bench                       # or: .venv/bin/python bench/errorlog.py --rounds 50
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from harness.nginx_conf import ERROR_LOG
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "errorlog.json")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"negative_check": [], "positive_check_log_phase": [], "exec_read_baseline": []}
    with Stage.open(rootdir=ROOT) as stage:
        nginx = stage.openresty("log-phase", workers=args.workers)
        with nginx.client() as client:
            for r in range(args.rounds):
                log = nginx.log
                log.mark()
                client.get("/quiet")
                started = time.perf_counter()
                log.assert_not_logged("late line")
                samples["negative_check"].append(time.perf_counter() - started)

                log.mark()
                client.get("/late")
                started = time.perf_counter()
                log.assert_logged("late line", count=1)
                samples["positive_check_log_phase"].append(time.perf_counter() - started)

                started = time.perf_counter()
                nginx.sh(f"tail -c +1 {ERROR_LOG} > /dev/null")
                samples["exec_read_baseline"].append(time.perf_counter() - started)
                if (r + 1) % 10 == 0:
                    print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    result = {
        "benchmark": "errorlog",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds, "workers": args.workers,
        "median_ms": {k: v * 1000 for k, v in medians.items()},
        "max_ms": {k: max(v) * 1000 for k, v in samples.items()},
        "ratios": {"exec_read_over_negative_check": medians["exec_read_baseline"] / medians["negative_check"]},
        "samples_s": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for name in samples:
        print(f"{name:>26}: median {result['median_ms'][name]:6.1f} ms, max {result['max_ms'][name]:6.1f} ms")
    print(f"docker exec read / negative check: {result['ratios']['exec_read_over_negative_check']:.1f}x")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
