"""A saved file re-verified by a warm harness (issue 25): ``harness t --watch`` on a 10-block file of
our own whose blocks answer through a Lua module, then N edits of the ``.t`` file and N edits of the
module, each timed from the save to the line of the round's verdicts, as a user at the terminal sees
it (the watcher's wake-up, perl reading the file, the blocks on the warm containers, the printing).

    python bench/tnginx_watch.py [--edits 10] [--blocks 10] [-n LANES]

Beside it, for scale, one cold ``harness t`` of the same file (a process, a stage and containers of
its own) and perl alone reading the file (the shim; the watch's cost per saved ``.t`` file).
Results: reports/bench/tnginx_watch.json (medians and every edit).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.watching import WatchChild, module_suite, write_module  # noqa: E402

ROUND = re.compile(r"^round (\d+) \((.*)\): (\d+) passed, (\d+) failed, (\d+) skipped in ([\d.]+)s \(perl ([\d.]+)s\)")


def edit_rounds(child: WatchChild, edit: Any, count: int, after: int, blocks: int) -> tuple[list[dict[str, float]], int]:
    """``count`` saves by ``edit(i)``, each waited for: seconds from the save to the round's line."""
    out = []
    for i in range(count):
        saved = time.perf_counter()
        edit(i)
        index, stamp, line = child.wait_line(r"^round \d+ \(", 120, after)
        after = index + 1
        match = ROUND.match(line)
        assert match and int(match.group(3)) == blocks, child.output()
        out.append({"save_to_verdicts_s": stamp - saved, "round_s": float(match.group(6)),
                    "perl_s": float(match.group(7))})
    return out, after


def summary(edits: list[dict[str, float]]) -> dict[str, Any]:
    return {key: round(statistics.median(e[key] for e in edits), 3) for key in edits[0]} | {
        "max_save_to_verdicts_s": round(max(e["save_to_verdicts_s"] for e in edits), 3), "edits": edits}


def perl_alone(path: Path, times: int = 10) -> float:
    """Median seconds of perl reading ``path`` with the harness's shim (no cache: a fresh mtime each time)."""
    from harness.tnginx.load import load_tfile

    took = []
    for _ in range(times):
        os.utime(path)
        began = time.perf_counter()
        load_tfile(path)
        took.append(time.perf_counter() - began)
    return statistics.median(took)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("-n", "--lanes", default="", help="harness t -n (default: HARNESS_T_LANES, else auto)")
    args = parser.parse_args()
    lanes = ["-n", args.lanes] if args.lanes else []
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        suite = Path(tmp)
        tfile = module_suite(suite, args.blocks)
        began = time.perf_counter()
        cold = subprocess.run([sys.executable, "-m", "harness.cli", "t", "t/", "--reports", str(suite / "cold"), *lanes],
                              cwd=suite, capture_output=True, text=True, timeout=600)
        cold_s = time.perf_counter() - began
        assert cold.returncode == 0, cold.stdout + cold.stderr
        perl_s = perl_alone(tfile)
        started = time.perf_counter()
        child = WatchChild(suite, "t/", "--reports", str(suite / "reports"), *lanes)
        try:
            _, ready, _ = child.wait_line(r"^watching \d+ director", 600)
            first = ROUND.match(child.wait_line(r"^round 1 \(", 1)[2])
            at = len(child.lines)
            text = tfile.read_text()
            # a .t edit that keeps every verdict: block 1's title changes
            t_edits, at = edit_rounds(child, lambda i: tfile.write_text(
                text.replace("=== TEST 1: answer 1\n", f"=== TEST 1: answer 1 (edit {i + 1})\n")),
                args.edits, at, args.blocks)
            lua_edits, at = edit_rounds(child, lambda i: write_module(suite, "answer", note=f"edit {i + 1}"),
                                        args.edits, at, args.blocks)
            code = child.interrupt()
        finally:
            child.kill()
    result = {
        "what": f"harness t --watch on a {args.blocks}-block .t file whose blocks require a Lua module: seconds from "
                "a save to the round's verdict line, median of the edits",
        "blocks": args.blocks, "lanes": args.lanes or os.environ.get("HARNESS_T_LANES", "auto"),
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
        "cold_harness_t_s": round(cold_s, 3),
        "watch_start_to_watching_s": round(ready - started, 3),
        "first_round_s": float(first.group(6)) if first else None,
        "perl_reads_file_s": round(perl_s, 4),
        "edit_t_file": summary(t_edits),
        "edit_lua_module": summary(lua_edits),
        "exit_after_ctrl_c": code,
    }
    out = ROOT / "reports" / "bench" / "tnginx_watch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for name in ("edit_t_file", "edit_lua_module"):
        r = result[name]
        print(f"{name}: median {r['save_to_verdicts_s']:.3f}s save->verdicts (round {r['round_s']:.3f}s, perl "
              f"{r['perl_s']:.3f}s), max {r['max_save_to_verdicts_s']:.3f}s over {args.edits} edits")
    print(f"cold harness t: {cold_s:.2f}s; perl alone: {perl_s * 1000:.0f} ms; written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
