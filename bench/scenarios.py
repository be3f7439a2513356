"""Benchmark: per-scenario overhead of YAML scenarios, reused container (HUP switch) vs a fresh
container, for 20 scenarios of one content_by_lua location each with an error_log and a
no_error_log check (the shape Test::Nginx's 2.0 s/block (restart) and 0.55 s/block (HUP) were
measured on). Both modes run interleaved in one process; the scenarios are distinct, so every one
is a real config switch. Writes reports/bench/scenarios.json.

    .venv/bin/python bench/scenarios.py [--scenarios 20] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.images.facts import as_record, probe
from harness.scenarios import ScenarioRunner, load_file
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """
name: block {i}
fixture:
  config: |
    location = /t {{
        content_by_lua_block {{
            ngx.log(ngx.WARN, "block {i} says hello")
            ngx.say({i} * 2)
        }}
    }}
options: {{reuse: {reuse}}}
steps:
  - request: GET /t
    expect:
      status: 200
      body: "{double}\\n"
      error_log: ["block {i} says hello"]
      no_error_log: ["[error]"]
"""


def write_scenarios(directory: Path, count: int, reuse: bool, offset: int) -> list[Path]:
    paths = []
    for n in range(count):
        i = offset + n
        path = directory / f"{'hup' if reuse else 'fresh'}-{i:03d}.scenario.yaml"
        path.write_text(SCENARIO.format(i=i, double=i * 2, reuse="true" if reuse else "false"))
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="each round runs all scenarios in both modes")
    parser.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                        help="switch each container only when its scenario starts (as a plain loop would)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "scenarios.json")
    args = parser.parse_args()

    per_scenario: dict[str, list[float]] = {"hup": [], "fresh": []}
    per_round: dict[str, list[float]] = {"hup": [], "fresh": []}
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp, Stage.open(rootdir=ROOT) as stage:
        facts = probe(stage.engine, stage.resolver.resolve("openresty"), stage.session.labels)
        runner = ScenarioRunner(stage)
        warm = load_file(write_scenarios(Path(tmp), 1, True, 10_000)[0])[0]
        assert runner.run(warm).passed  # one container in the pool for the HUP rounds
        for r in range(args.rounds):
            for mode in (("hup", "fresh") if r % 2 == 0 else ("fresh", "hup")):
                files = write_scenarios(Path(tmp), args.scenarios, mode == "hup", offset=r * 1000 + len(mode))
                loaded = [load_file(f)[0] for f in files]
                started = time.perf_counter()
                for index, scenario in enumerate(loaded):
                    t0 = time.perf_counter()
                    if args.prefetch:
                        runner.plan_ahead(loaded[index:])
                    result = runner.run(scenario)
                    per_scenario[mode].append(time.perf_counter() - t0)
                    if not result.passed:
                        print(result.format(), file=sys.stderr)
                        return 1
                per_round[mode].append((time.perf_counter() - started) / len(loaded))
                print(f"round {r + 1}/{args.rounds} {mode:>5}: {per_round[mode][-1] * 1000:6.1f} ms per scenario",
                      file=sys.stderr)
        reach = stage.reach_mode

    def stats(values: list[float]) -> dict:
        ordered = sorted(values)
        return {"median_s": statistics.median(ordered), "p90_s": ordered[int(0.9 * (len(ordered) - 1))],
                "min_s": ordered[0], "max_s": ordered[-1], "n": len(ordered)}

    hup, fresh = statistics.median(per_scenario["hup"]), statistics.median(per_scenario["fresh"])
    result = {
        "benchmark": "scenarios",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios_per_round": args.scenarios, "rounds": args.rounds, "reach": reach,
        "image": as_record(facts),
        "per_scenario": {mode: stats(values) for mode, values in per_scenario.items()},
        "per_round_mean_s": per_round,
        "targets_s": {"hup": 0.1, "fresh": 1.0},
        "test_nginx_reference_s": {"restart": 2.0, "hup": 0.55},
        "ratios": {"fresh_over_hup": fresh / hup, "test_nginx_hup_over_ours": 0.55 / hup,
                   "test_nginx_restart_over_ours_fresh": 2.0 / fresh},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"per scenario (median): HUP reuse {hup * 1000:.1f} ms (target 100), fresh {fresh * 1000:.1f} ms "
          f"(target 1000); Test::Nginx HUP / ours: {0.55 / hup:.1f}x")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
