"""Benchmark: how right the perf verdict is. Over N trials each, interleaved in one run:

  (b) A/A: two identical containers; the false-alarm rate (target <= 5 %);
  (c) candidates whose Lua handler costs +5 % and +10 % CPU per request (the cpu-regression
      fixture's busy loop, calibrated against the baseline's measured cost); the detection rates
      (targets: +10 % caught >= 95 %, +5 % >= 80 %);
  (d) the measurement time per verdict (target <= 60 s).

Every trial is a full verdict (``harness perf compare`` defaults unless told otherwise). Writes
reports/bench/perf_verdicts.json after every trial, so a stopped run keeps what it measured.

    make bench                                         # or, a quick smoke run:
    .venv/bin/python bench/perf_verdicts.py --trials 2 --rounds 6
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from harness.perf.compare import Limits, Variant, measure_pair, start
from harness.perf.measure import RoundsSpec
from harness.perf.verdict import decide
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "cpu-regression"
CALIBRATION_LOOP = 2000  # iterations of the calibration candidate: a clearly visible extra cost


def verdict_of(stage, a, b, spec, tolerance):
    m = measure_pair(stage, a, b, spec)
    samples = {metric: m.paired(metric) for metric in ("cpu_us_per_request", "rps", "p50", "p99")}
    verdict = decide(samples, {"cpu_us_per_request": tolerance})
    cpu = verdict.metric("cpu_us_per_request").ratio
    return m, verdict, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="verdicts of each kind (A/A, +5 %%, +10 %%)")
    parser.add_argument("--rounds", type=int, default=RoundsSpec.rounds)
    parser.add_argument("--round-seconds", type=float, default=RoundsSpec.round_s)
    parser.add_argument("--rate", type=float, default=RoundsSpec.rate)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--calibration-rounds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "perf_verdicts.json")
    args = parser.parse_args()
    spec = RoundsSpec(rounds=args.rounds, round_s=args.round_seconds, rate=args.rate)
    limits = Limits()
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    result: dict = {"benchmark": "perf_verdicts", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "spec": {"rounds": spec.rounds, "round_s": spec.round_s, "rate": spec.rate,
                             "interleave": spec.interleave, "users": spec.users, "processes": spec.processes},
                    "tolerance": args.tolerance, "trials": {"aa": [], "plus5": [], "plus10": []}}

    def save() -> None:
        trials = result["trials"]
        fails = {k: sum(not t["passed"] for t in v) for k, v in trials.items()}
        done = {k: len(v) for k, v in trials.items()}
        result["rates"] = {
            "aa_false_alarm": fails["aa"] / done["aa"] if done["aa"] else None,
            "plus5_detected": fails["plus5"] / done["plus5"] if done["plus5"] else None,
            "plus10_detected": fails["plus10"] / done["plus10"] if done["plus10"] else None}
        every = [t for v in trials.values() for t in v]
        result["measured_s_per_verdict"] = spec.measured_s
        result["wall_s_per_verdict_median"] = statistics.median(t["wall_s"] for t in every) if every else None
        result["mean_cpu_ratio"] = {k: statistics.mean(t["cpu_ratio"] for t in v) if v else None
                                    for k, v in trials.items()}
        result["targets_met"] = {
            "aa_false_alarm<=0.05": result["rates"]["aa_false_alarm"] is not None
            and result["rates"]["aa_false_alarm"] <= 0.05,
            "plus10_detected>=0.95": (result["rates"]["plus10_detected"] or 0) >= 0.95,
            "plus5_detected>=0.80": (result["rates"]["plus5_detected"] or 0) >= 0.80,
            "measured_s_per_verdict<=60": spec.measured_s <= 60}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))

    with Stage.open(rootdir=ROOT) as stage:
        def container(loop: int):
            return start(stage, Variant(FIXTURE, env={"BUSY_LOOP": str(loop)}), limits)

        a, a2, cal = container(0), container(0), container(CALIBRATION_LOOP)
        log(f"calibrating: {CALIBRATION_LOOP} iterations, {args.calibration_rounds} rounds")
        cal_spec = RoundsSpec(rounds=args.calibration_rounds, round_s=spec.round_s, rate=spec.rate)
        m, _, ratio = verdict_of(stage, a, cal, cal_spec, args.tolerance)
        base_us = float(m.paired("cpu_us_per_request")[0].mean())
        per_iteration_us = (ratio.estimate - 1) * base_us / CALIBRATION_LOOP
        loops = {"plus5": round(0.05 * base_us / per_iteration_us), "plus10": round(0.10 * base_us / per_iteration_us)}
        result["calibration"] = {"baseline_cpu_us_per_request": base_us, "loop": CALIBRATION_LOOP,
                                 "ratio": ratio.estimate, "ratio_interval": [ratio.low, ratio.high],
                                 "per_iteration_ns": per_iteration_us * 1000, "loops": loops}
        log(f"baseline {base_us:.1f} µs/request; {per_iteration_us * 1000:.2f} ns per iteration; loops {loops}")
        stage.release(cal, reusable=False)
        # Second step: a small loop costs a little more than the straight line from the large one
        # (a fixed cost per call), so measure the +10 % candidate and rescale both loops to it.
        cal = container(loops["plus10"])
        _, _, check = verdict_of(stage, a, cal, cal_spec, args.tolerance)
        stage.release(cal, reusable=False)
        scale = 0.10 / max(check.estimate - 1, 0.01)
        loops = {k: max(1, round(v * scale)) for k, v in loops.items()}
        result["calibration"].update({"check_ratio_plus10": check.estimate, "rescaled_by": scale, "loops": loops})
        log(f"check: +10 % loop measured {check}; loops rescaled by {scale:.2f} to {loops}")
        candidates = {"aa": a2, "plus5": container(loops["plus5"]), "plus10": container(loops["plus10"])}
        save()
        kinds = list(candidates)
        for trial in range(args.trials):
            for kind in kinds[trial % 3:] + kinds[:trial % 3]:  # rotate the order: no kind always first
                started = time.monotonic()
                m, verdict, ratio = verdict_of(stage, a, candidates[kind], spec, args.tolerance)
                result["trials"][kind].append({
                    "trial": trial, "passed": verdict.passed, "cpu_ratio": ratio.estimate,
                    "cpu_interval": [ratio.low, ratio.high], "rps_ratio": verdict.metric("rps").ratio.estimate,
                    "p99_ratio": verdict.metric("p99").ratio.estimate, "failures": m.total_failures,
                    "measured_s": spec.measured_s, "wall_s": time.monotonic() - started,
                    "baseline_rps": float(m.paired("rps")[0].mean())})
                save()
                log(f"trial {trial + 1}/{args.trials} {kind:>6}: CPU ratio {ratio} -> "
                    f"{'pass' if verdict.passed else 'REGRESSION'} ({time.monotonic() - started:.0f} s)")
    save()
    print(json.dumps({k: result[k] for k in ("calibration", "rates", "mean_cpu_ratio", "measured_s_per_verdict",
                                              "wall_s_per_verdict_median", "targets_met")}, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
