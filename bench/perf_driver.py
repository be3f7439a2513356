"""Benchmark (a): the harness's locust driver against wrk on the same endpoint, interleaved.

The endpoint is the `hello` fixture (Lua answers /) at the container's own address, one worker,
1 CPU: the shape `harness perf` measures. Each round runs, one after the other and in a rotating
order, wrk (Debian package; installed with apt-get if missing, as root on Debian), the harness's
driver (locust, RawHttpUser, several processes, no wait) and, for reference, locust's FastHttpUser.
The figure is the median over rounds of driver/wrk throughput (target >= 0.5). Writes
reports/bench/perf_driver.json.

    make bench                     # or: .venv/bin/python bench/perf_driver.py --rounds 3 --seconds 3
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.engine import ensure_packages
from harness.errors import HarnessError
from harness.load import LoadSpec, run_load
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent


def wrk_rps(url: str, seconds: float, threads: int, connections: int) -> float:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
                         capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if out.returncode != 0 or not found:
        raise HarnessError(f"wrk failed (exit {out.returncode})", out.stdout + out.stderr)
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="of each load in a round")
    parser.add_argument("--processes", type=int, default=2, help="locust processes of the driver")
    parser.add_argument("--users", type=int, default=64, help="locust users over all processes")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "perf_driver.json")
    args = parser.parse_args()
    ensure_packages({"wrk": "wrk"}, log=lambda line: print(line, file=sys.stderr))
    samples: dict[str, list[float]] = {"wrk": [], "driver_raw": [], "locust_fasthttp": []}
    with Stage.open(rootdir=ROOT) as stage:
        nginx = stage.openresty("hello", workers=1, cpus=1.0, reuse=False)
        url = nginx.base_url + "/"
        runs = {
            "wrk": lambda: wrk_rps(url, args.seconds, 2, args.wrk_connections),
            "driver_raw": lambda: run_load(nginx.base_url, LoadSpec(users=args.users, duration=args.seconds,
                                                                    processes=args.processes, client="raw")).rps,
            "locust_fasthttp": lambda: run_load(nginx.base_url, LoadSpec(users=args.users, duration=args.seconds,
                                                                         processes=args.processes)).rps,
        }
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % 3:] + names[:r % 3]:
                samples[name].append(runs[name]())
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.0f} req/s" for k, v in samples.items()),
                  file=sys.stderr, flush=True)
        reach = stage.reach_mode
    ratios = {name: [d / w for d, w in zip(samples[name], samples["wrk"])] for name in ("driver_raw", "locust_fasthttp")}
    result = {
        "benchmark": "perf_driver", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "endpoint": "hello fixture, 1 worker, 1 CPU", "reach": reach, "rounds": args.rounds, "seconds": args.seconds,
        "driver": {"processes": args.processes, "users": args.users, "client": "RawHttpUser, no wait"},
        "wrk": {"threads": 2, "connections": args.wrk_connections},
        "median_rps": {k: statistics.median(v) for k, v in samples.items()},
        "median_ratio_to_wrk": {k: statistics.median(v) for k, v in ratios.items()},
        "ratios_to_wrk": ratios, "samples_rps": samples,
        "target_met": {"driver_raw/wrk>=0.5": statistics.median(ratios["driver_raw"]) >= 0.5},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for k, v in result["median_rps"].items():
        print(f"{k:>16}: median {v:8.0f} req/s")
    for k, v in result["median_ratio_to_wrk"].items():
        print(f"{k:>16} / wrk: median {v:.2f} (per round: {', '.join(f'{x:.2f}' for x in ratios[k])})")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
