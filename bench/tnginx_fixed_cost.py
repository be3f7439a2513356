"""Where the time of one ``harness t`` run goes: its fixed cost split into steps, and the blocks'
critical path against their sum (issue 25's "measure first").

    python bench/tnginx_fixed_cost.py                       # two suites of our own: 1 and 13 trivial blocks
    python bench/tnginx_fixed_cost.py --suite DIR [--files t/a.t ...] [--test-nginx DIR]

Each run is timed from outside (wall, as a user sees it) and stamped inside by bench/tnginx_trace.py:
interpreter and imports until the plugin loads, pytest's configure, collection (perl reads the
files), the wait for the first verdict (first container), the blocks, the session's clean-up, and
the exit. Beside them (``--no-served`` leaves it out), the same files handed to a ``harness serve``
started for the bench: its first run is left out (the files' containers start on its stage), then one a
round, timed from outside (the server does not load the trace plugin). The suites of our own are written to a temporary directory (trivial blocks: a Lua content
handler, its body, no error in the log); ``--test-nginx`` also times ``tini -s prove`` on the same
files, side by side in the same sitting. Results: reports/bench/tnginx_fixed_cost.json.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from tnginx_agreement import LOCK, BenchServer, prove_env  # noqa: E402  (bench/ is not a package)

STEPS = (  # (name, from stamp, to stamp)
    ("start + imports", "launched", "plugin_loaded"),
    ("configure", "plugin_loaded", "configured"),
    ("collection", "configured", "collected"),
    ("first verdict", "collected", "first_verdict"),
    ("other blocks", "first_verdict", "last_verdict"),
    ("session end", "last_verdict", "unconfigured"),
    ("exit", "unconfigured", "exit"),
)


def trivial_suite(directory: Path, blocks: int) -> Path:
    """A .t file of ``blocks`` trivial blocks (what a small library's sanity file looks like)."""
    parts = ["use Test::Nginx::Socket::Lua;", "", "repeat_each(1);", "plan tests => repeat_each() * blocks() * 3;",
             "run_tests();", "", "__DATA__", ""]
    for n in range(1, blocks + 1):
        parts += [f"=== TEST {n}: answer {n}", "--- config", "    location = /t {",
                  f"        content_by_lua_block {{ ngx.say(\"answer {n}\") }}", "    }",
                  "--- request", "GET /t", "--- response_body", f"answer {n}", "--- no_error_log", "[error]", ""]
    path = directory / "t" / f"trivial-{blocks}.t"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path


def harness_run(harness: str, cwd: Path, files: list[str], lanes: Optional[int]) -> dict[str, Any]:
    """One ``harness t`` run: its wall time, the steps between the trace's stamps, and per block."""
    with tempfile.TemporaryDirectory() as reports, tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        env = dict(os.environ, TMPDIR=tmp, HARNESS_BENCH_TRACE=str(trace),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH", "")])))
        cmd = [harness, "t", *files, "--reports", reports, "--pytest=-p", "--pytest=tnginx_trace",
               *(["-n", str(lanes)] if lanes else [])]
        launched = time.time()
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace")
        wall = time.perf_counter() - started
        if not trace.exists():
            raise SystemExit(f"{' '.join(cmd)}: no trace (exit {proc.returncode})\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        data = json.loads(trace.read_text())
    stamps = {"launched": launched, **data["stamps"]}
    steps = {name: stamps[b] - stamps[a] for name, a, b in STEPS if a in stamps and b in stamps}
    blocks = data["blocks"]
    seconds = [b["seconds"] for b in blocks]
    redis_chain = sum(b["seconds"] for b in blocks if b["redis"])
    return {"wall_s": wall, "exit_code": proc.returncode, "steps_s": steps, "blocks": len(blocks),
            "block_sum_s": sum(seconds), "block_max_s": max(seconds, default=0.0),
            # what must run in order: the longest block (its repetitions share one nginx), and the
            # blocks naming the shared Redis, one after another
            "critical_path_s": max(max(seconds, default=0.0), redis_chain),
            "fixed_s": wall - (stamps.get("last_verdict", stamps["exit"]) - stamps.get("collected", stamps["exit"]))}


def prove_run(cwd: Path, files: list[str], test_nginx: Path) -> float:
    env = prove_env(test_nginx)
    with open(LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one prove on this host at a time (port 1984)
        started = time.perf_counter()
        subprocess.run(["tini", "-s", "--", "prove", *files], cwd=cwd, env=env, capture_output=True)
        return time.perf_counter() - started


def served_run(harness: str, cwd: Path, files: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One ``harness t`` handed to the bench's server: its wall time as the user sees it, and the steps
    the trace stamped in the server (from the command's start to the server's pytest registering the
    plugin, configure, collection, the blocks, the session's end; the rest is the answer's way back)."""
    with tempfile.TemporaryDirectory() as reports, tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        run_env = dict(env, HARNESS_BENCH_TRACE=str(trace),
                       PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH), env.get("PYTHONPATH", "")])))
        launched = time.time()
        started = time.perf_counter()
        proc = subprocess.run([harness, "t", *files, "--reports", reports, "--pytest=-p", "--pytest=tnginx_trace"],
                              cwd=cwd, env=run_env, capture_output=True, text=True, errors="replace")
        wall = time.perf_counter() - started
        ended = time.time()
        if "ran this" not in proc.stdout or not trace.exists():
            raise SystemExit(f"harness t was not handed to the server (exit {proc.returncode}):\n"
                             f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        stamps = {"launched": launched, **json.loads(trace.read_text())["stamps"], "exit": ended}
    steps = {name: stamps[b] - stamps[a] for name, a, b in STEPS if a in stamps and b in stamps}
    return {"wall_s": wall, "steps_s": steps}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time, with every run's wall time beside it."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return {**ordered[len(ordered) // 2], "walls_s": [round(r["wall_s"], 3) for r in runs]}


def measure(name: str, cwd: Path, files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    one, auto, prove, served = [], [], [], []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(BenchServer(args.harness, cwd)) if args.served else None
        if server is not None:
            served_run(args.harness, cwd, files, server.env)  # the files' containers start on its stage
        for _ in range(args.rounds):  # interleaved, so the machine's moods hit all alike
            one.append(harness_run(args.harness, cwd, files, 1))
            auto.append(harness_run(args.harness, cwd, files, None))
            if server is not None:
                served.append(served_run(args.harness, cwd, files, server.env))
            if args.test_nginx:
                prove.append(prove_run(cwd, files, args.test_nginx.resolve()))
    result = {"suite": name, "files": files, "lanes_1": median_run(one), "default_lanes": median_run(auto)}
    if served:
        result["served"] = median_run(served)
        result["served_s"] = result["served"]["wall_s"]
        result["served_walls_s"] = result["served"]["walls_s"]
    if prove:
        result["prove_s"] = statistics.median(prove)
        result["prove_walls_s"] = [round(p, 3) for p in prove]
        result["ratio_prove_over_default"] = result["prove_s"] / result["default_lanes"]["wall_s"]
        if served:
            result["ratio_prove_over_served"] = result["prove_s"] / result["served_s"]
    return result


def report(result: dict[str, Any]) -> str:
    one = result["lanes_1"]
    lines = [f"{result['suite']}: {one['blocks']} blocks"]
    for label in ("lanes_1", "default_lanes"):
        run = result[label]
        steps = ", ".join(f"{k} {v:.2f}" for k, v in run["steps_s"].items())
        lines.append(f"  {label:<13} wall {run['wall_s']:.2f} s (fixed {run['fixed_s']:.2f} s): {steps}")
    lines.append(f"  blocks: sum {one['block_sum_s']:.2f} s, longest {one['block_max_s']:.2f} s, "
                 f"critical path {one['critical_path_s']:.2f} s")
    if "served_s" in result:
        steps = ", ".join(f"{k} {v:.2f}" for k, v in result["served"]["steps_s"].items())
        lines.append(f"  handed to harness serve: wall {result['served_s']:.2f} s (rounds: {result['served_walls_s']}): "
                     f"{steps}")
    if "prove_s" in result:
        lines.append(f"  prove {result['prove_s']:.2f} s: prove / harness t = {result['ratio_prove_over_default']:.2f}x"
                     + (f", prove / served = {result['ratio_prove_over_served']:.2f}x" if "served_s" in result else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, help="a suite's root (default: two suites of our own)")
    parser.add_argument("--files", nargs="*", default=None, help="its t/ files (default: every t/*.t)")
    parser.add_argument("--test-nginx", type=Path, help="a checkout of openresty/test-nginx: time prove too")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-served", dest="served", action="store_false", help="leave out the served runs")
    parser.add_argument("--harness", default=str(Path(sys.executable).with_name("harness")))
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "tnginx_fixed_cost.json")
    args = parser.parse_args()
    results = []
    if args.suite:
        suite = args.suite.resolve()
        files = args.files or sorted(str(p.relative_to(suite)) for p in (suite / "t").rglob("*.t"))
        results.append(measure(suite.name, suite, files, args))
    else:
        with tempfile.TemporaryDirectory(prefix="harness-bench-t-") as tmp:
            for blocks in (1, 13):
                path = trivial_suite(Path(tmp), blocks)
                results.append(measure(f"trivial-{blocks}", Path(tmp), [str(path.relative_to(tmp))], args))
    for result in results:
        print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                    "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
