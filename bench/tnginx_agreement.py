"""Agreement and speed of `harness t` against Test::Nginx's prove on one suite, side by side.

    python bench/tnginx_agreement.py SUITE_DIR [t/FILE.t ...] --test-nginx DIR [--out JSON]

Runs, in this order and in one sitting: ``tini -s -- prove`` file by file (Test::Nginx from DIR/lib,
the host's nginx; one prove at a time, under a host-wide lock because Test::Nginx's port 1984 is fixed), then
``harness t`` (default lanes) and ``harness t -n 2`` (``--second-lanes``: another number, 1 to check that
no verdict depends on the lanes) on the same files; with ``--served``, then twice more through a
``harness serve`` started for the purpose (the first run starts the suite's containers on the server's
warm stage, the second finds them warm and, in the same reports directory, the first run's block times
to start the longest first, as a user's re-run does: its time is the served figure; perl's output is
not kept between the runs, as it is not for the runs above). Per block: prove's verdict (any failed TAP
test fails the block; only skips: skipped; no TAP line: not run) against the harness's (reports
t.json). Agreement is counted on all blocks and on those using only supported sections. Nothing of
any suite is in this file: give the suite's directory.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.tnginx.block import UNSUPPORTED
from harness.tnginx.load import TFileError, load_tfile, selected

MODULES = "/usr/lib/nginx/modules"
LOCK = Path(tempfile.gettempdir()) / "test-nginx-port-1984.lock"


def prove_env(test_nginx: Path) -> dict[str, str]:
    modules = " ".join(f"{MODULES}/{m}" for m in ("ndk_http_module.so", "ngx_http_lua_module.so",
                                                 "ngx_http_echo_module.so", "ngx_stream_module.so")
                       if Path(MODULES, m).exists())
    return {**os.environ, "PERL5LIB": f"{test_nginx / 'lib'}:.", "TEST_NGINX_BINARY": "/usr/sbin/nginx",
            "TEST_NGINX_LOAD_MODULES": modules, "TEST_NGINX_RESOLVER": "127.0.0.1"}


def block_names(suite: Path, files: list[str]) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Each file's runnable blocks (name, sections), as the shim reads them."""
    out = {}
    for f in files:
        try:
            tfile = load_tfile(suite / f)
        except TFileError as exc:
            print(f"  {f}: {exc.message}", file=sys.stderr)
            out[f] = []
            continue
        out[f] = [(b.name, frozenset(b.sections)) for b, why in selected(tfile.blocks) if not why]
    return out


def prove_verdicts(output: str, names: dict[str, list[tuple[str, frozenset[str]]]]) -> dict[tuple[str, str], str]:
    """Per (file, block): failed if any TAP test of it failed, skipped if all were skips."""
    seen: dict[tuple[str, str], set[str]] = {}
    line_re = re.compile(r"^(not ok|ok) \d+(?: - | # skip )?(.*)$", re.IGNORECASE)
    for line in output.splitlines():
        m = line_re.match(line.strip())
        if not m:
            continue
        status, desc = m.groups()
        desc = desc.replace("\\#", "#")  # TAP escapes '#' in test names
        skip = "# skip" in line.lower()
        for f, blocks in names.items():
            if not desc.startswith(f + " ") and f" {f} " not in f" {desc} ":
                continue
            rest = desc.split(f + " ", 1)[1]
            match = max((n for n, _ in blocks if rest == n or rest.startswith(n + " ")), key=len, default=None)
            if match is not None:
                seen.setdefault((f, match), set()).add("skip" if skip else status)
            break
    verdicts = {}
    for key, states in seen.items():
        verdicts[key] = "failed" if "not ok" in states else "passed" if "ok" in states else "skipped"
    return verdicts


def harness_verdicts(report: Path) -> dict[tuple[str, str], str]:
    data = json.loads((report / "t.json").read_text())
    return {tuple(nodeid.split("::", 1)): v for nodeid, v in data["blocks"].items()}  # type: ignore[misc]


def harness_causes(report: Path) -> dict[tuple[str, str], str]:
    """Each block's cause class, where the harness gave one (harness.tnginx.reasons)."""
    data = json.loads((report / "t.json").read_text())
    return {tuple(nodeid.split("::", 1)): v for nodeid, v in data.get("causes", {}).items()}


def block_times(report: Path) -> dict[str, float]:
    """From t.json's spans: the blocks' sum, their longest, and the stretch from the first start to the
    last end (what lanes and ordering can shrink; the rest of the wall time is fixed cost)."""
    spans = json.loads((report / "t.json").read_text()).get("spans", {})
    if not spans:
        return {}
    ends = [start + seconds for start, seconds in spans.values()]
    return {"block_sum_s": sum(s for _, s in spans.values()), "longest_block_s": max(s for _, s in spans.values()),
            "blocks_stretch_s": max(ends) - min(start for start, _ in spans.values())}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace")
    return time.perf_counter() - started, proc.stdout + proc.stderr


class BenchServer:
    """A ``harness serve`` of the bench's own (a socket in a temp directory), stopped at the end;
    ``own_tmpdir``: its runs' TMPDIR is that directory too (perl's kept output where the bench can drop it)."""

    def __init__(self, harness: str, cwd: Path, own_tmpdir: bool = False) -> None:
        self.harness, self.cwd = harness, cwd
        self.tmp = tempfile.TemporaryDirectory(prefix="harness-bench-serve-")
        self.home = Path(self.tmp.name)
        self.env = dict(os.environ, HARNESS_SERVE="auto", HARNESS_SERVE_SOCKET=str(self.home / "s.sock"),
                        **({"TMPDIR": str(self.home)} if own_tmpdir else {}))

    def __enter__(self) -> "BenchServer":
        proc = subprocess.run([self.harness, "serve", "--detach"], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise SystemExit(f"harness serve --detach: {proc.stdout}{proc.stderr}")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.harness, "serve", "--stop"], cwd=self.cwd, env=self.env, capture_output=True)
        self.tmp.cleanup()


def served_runs(harness: str, files: list[str], suite: Path) -> dict:
    """Two runs of ``files`` handed to a ``harness serve`` started here (and stopped): their times and the
    second run's verdicts."""
    out: dict = {}
    with BenchServer(harness, suite, own_tmpdir=True) as server:
        reports = server.home / "reports"  # the second run has the first's block times, as a user's re-run
        for run in ("first", "second"):
            shutil.rmtree(server.home / "harness-tnginx-blocks", ignore_errors=True)  # perl pays again, as prove
            seconds, output = timed([harness, "t", *files, "--reports", str(reports)], suite, server.env)
            if "ran this" not in output:
                raise SystemExit(f"harness t was not handed to the server:\n{output[-2000:]}")
            out[f"{run}_s"] = seconds
        out["verdicts"] = harness_verdicts(reports)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("files", nargs="*", help="t/ files relative to the suite (default: every t/*.t)")
    parser.add_argument("--test-nginx", type=Path, required=True, help="a checkout of openresty/test-nginx")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--harness", default=str(Path(sys.executable).with_name("harness")))
    parser.add_argument("--skip-n2", action="store_true", help="leave out the second harness t run")
    parser.add_argument("--second-lanes", default="2", help="-n of the second harness t run (default 2)")
    parser.add_argument("--served", action="store_true", help="also time harness t handed to a harness serve")
    args = parser.parse_args()
    suite = args.suite.resolve()
    files = args.files or sorted(str(p.relative_to(suite)) for p in (suite / "t").rglob("*.t"))
    names = block_names(suite, files)
    env = prove_env(args.test_nginx.resolve())
    prove_s, prove_out = 0.0, ""
    with open(LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one prove on this host at a time (port 1984)
        # a file at a time: one file's "Bail out!" (nginx that cannot start) would stop prove for all
        for f in files:
            seconds, out = timed(["tini", "-s", "--", "prove", "-v", f], suite, env)
            prove_s += seconds
            prove_out += out
    with tempfile.TemporaryDirectory() as r1, tempfile.TemporaryDirectory() as r2, \
            tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        # each run with a temp directory of its own: the shim's output kept from an earlier run (the
        # block names above) would spare it the perl runs that prove pays for
        one_s, one_out = timed([args.harness, "t", *files, "--reports", r1], suite, dict(os.environ, TMPDIR=t1))
        two_s, two_out = (0.0, "") if args.skip_n2 else timed(
            [args.harness, "t", "-n", args.second_lanes, *files, "--reports", r2], suite, dict(os.environ, TMPDIR=t2))
        ours = harness_verdicts(Path(r1))
        times = block_times(Path(r1))
        causes = harness_causes(Path(r1))
        ours2 = {} if args.skip_n2 else harness_verdicts(Path(r2))
    served = served_runs(args.harness, files, suite) if args.served else {}
    theirs = prove_verdicts(prove_out, names)
    rows = []
    for f, blocks in names.items():
        for name, sections in blocks:
            unsupported = sorted(s for s in sections if s in UNSUPPORTED)
            rows.append({"file": f, "block": name, "prove": theirs.get((f, name), "not run"),
                         "harness": ours.get((f, name), "not run"), "harness_n2": ours2.get((f, name), "not run"),
                         "harness_served": served.get("verdicts", {}).get((f, name), "not run"),
                         "unsupported": unsupported, "cause": causes.get((f, name), "")})
    supported = [r for r in rows if not r["unsupported"]]
    agree = sum(r["prove"] == r["harness"] for r in rows)
    agree_sup = sum(r["prove"] == r["harness"] for r in supported)
    ran = [r for r in supported if r["prove"] != "not run"]  # prove bailed out of some files (no module)
    agree_ran = sum(r["prove"] == r["harness"] for r in ran)
    result = {"suite": suite.name, "files": len(files), "blocks": len(rows), "supported_blocks": len(supported),
              "agreement_all": agree / max(1, len(rows)), "agreement_supported": agree_sup / max(1, len(supported)),
              "prove_ran_supported_blocks": len(ran), "agreement_prove_ran": agree_ran / max(1, len(ran)),
              "prove_s": prove_s, "harness_s": one_s, "harness_n2_s": two_s,
              "speedup_n2": prove_s / two_s if two_s else None, "second_lanes": args.second_lanes,
              "speedup_default": prove_s / one_s if one_s else None,
              "load_average": os.getloadavg(), "harness_blocks": times,
              "lanes_disagreements": [] if args.skip_n2 else
              [r for r in rows if r["harness"] != r["harness_n2"]],
              "served_first_s": served.get("first_s"), "served_s": served.get("second_s"),
              "speedup_served": prove_s / served["second_s"] if served else None,
              "served_disagreements": [r for r in rows if r["harness"] != r["harness_served"]] if served else [],
              "prove_verdicts": {v: sum(r["prove"] == v for r in rows) for v in ("passed", "failed", "skipped", "not run")},
              "harness_verdicts": {v: sum(r["harness"] == v for r in rows) for v in ("passed", "failed", "skipped", "not run")},
              "disagreements": [r for r in rows if r["prove"] != r["harness"]]}
    print(f"{suite.name}: {len(files)} files, {len(rows)} blocks ({len(supported)} with supported sections only)")
    print(f"  agreement: {agree}/{len(rows)} = {result['agreement_all']:.1%} all; "
          f"{agree_sup}/{len(supported)} = {result['agreement_supported']:.1%} supported; "
          f"{agree_ran}/{len(ran)} = {result['agreement_prove_ran']:.1%} supported that prove ran")
    print(f"  wall: prove {prove_s:.1f}s | harness t {one_s:.1f}s | harness t -n {args.second_lanes} {two_s:.1f}s "
          f"(prove / harness t = {result['speedup_default'] or 0:.2f}x, prove / -n {args.second_lanes} = "
          f"{result['speedup_n2'] or 0:.2f}x; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    if served:
        print(f"  served (harness serve): first run {served['first_s']:.1f}s, second {served['second_s']:.1f}s "
              f"(prove / second = {result['speedup_served']:.2f}x); verdicts that differ from harness t's own run: "
              f"{len(result['served_disagreements'])}")
        for r in result["served_disagreements"]:
            print(f"    {r['file']}::{r['block']}: harness t {r['harness']}, served {r['harness_served']}")
    if times:
        print(f"  harness t blocks: sum {times['block_sum_s']:.1f}s, longest {times['longest_block_s']:.1f}s, "
              f"first start to last end {times['blocks_stretch_s']:.1f}s (the rest of {one_s:.1f}s is fixed cost)")
    if not args.skip_n2:
        print(f"  verdicts that differ between harness t and -n {args.second_lanes}: {len(result['lanes_disagreements'])}")
        for r in result["lanes_disagreements"]:
            print(f"    {r['file']}::{r['block']}: default {r['harness']}, -n {args.second_lanes} {r['harness_n2']}")
    for r in result["disagreements"]:
        print(f"  differs: {r['file']}::{r['block']}: prove {r['prove']}, harness {r['harness']}"
              + (f" (unsupported: {', '.join(r['unsupported'])})" if r["unsupported"] else "")
              + (f" [{r['cause']}]" if r["cause"] and not r["unsupported"] else ""))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
        (args.out.with_suffix(".log")).write_text(prove_out + "\n=====\n" + one_out + "\n=====\n" + two_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
