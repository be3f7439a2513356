"""Benchmark: per-scenario cost of YAML scenarios, reused container (HUP switch) vs a fresh
container, for 20 scenarios of one content_by_lua location each with an error_log and a
no_error_log check; with ``--test-nginx DIR`` the same 20 blocks as a ``.t`` file under Test::Nginx
(restart mode, ``prove`` under ``tini -s``), interleaved with our rounds in the same run.

Before the rounds, a switch is broken into its steps (median and p90 of each), once through the
in-container agent and once through ``docker exec`` of ``/harness/bin/activate`` (the path used
where the engine does not share this host's files), with the engine's own share measured apart.
Writes reports/bench/scenarios.json.

    .venv/bin/python bench/scenarios.py [--scenarios 20] [--rounds 3] [--test-nginx ~/src/test-nginx]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from harness.images.facts import as_record, probe
from harness.nginx_conf import Fixture
from harness.scenarios import ScenarioRunner, load_file
from harness.stage import Stage

ROOT = Path(__file__).resolve().parent.parent

LOCATION = """location = /t {{
    content_by_lua_block {{
        ngx.log(ngx.WARN, "block {i} says hello")
        ngx.say({i} * 2)
    }}
}}"""

SCENARIO = """
name: block {i}
fixture:
  config: |
{location}
options: {{reuse: {reuse}}}
steps:
  - request: GET /t
    expect:
      status: 200
      body: "{double}\\n"
      error_log: ["block {i} says hello"]
      no_error_log: ["[error]"]
"""

BLOCK = """
=== TEST {n}: block {i}
--- config
{location}
--- request
GET /t
--- response_body
{double}
--- error_log
block {i} says hello
--- no_error_log
[error]
"""

# Debian's nginx with the Lua module, as /work/shared/TEST-NGINX.md sets Test::Nginx up
TEST_NGINX_ENV = {
    "TEST_NGINX_BINARY": "/usr/sbin/nginx",
    "TEST_NGINX_LOAD_MODULES": "/usr/lib/nginx/modules/ndk_http_module.so "
                               "/usr/lib/nginx/modules/ngx_http_lua_module.so",
    "TEST_NGINX_RESOLVER": "127.0.0.1",
}


def location(i: int, indent: str = "") -> str:
    return "\n".join(indent + line for line in LOCATION.format(i=i).splitlines())


def write_scenarios(directory: Path, count: int, reuse: bool, offset: int) -> list[Path]:
    paths = []
    for n in range(count):
        i = offset + n
        path = directory / f"{'hup' if reuse else 'fresh'}-{i:03d}.scenario.yaml"
        path.write_text(SCENARIO.format(i=i, double=i * 2, reuse="true" if reuse else "false",
                                        location=location(i, "    ")))
        paths.append(path)
    return paths


def write_t_file(directory: Path, count: int, offset: int) -> Path:
    blocks = "".join(BLOCK.format(n=n + 1, i=offset + n, double=(offset + n) * 2, location=location(offset + n))
                     for n in range(count))
    path = directory / "t" / "bench.t"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("use Test::Nginx::Socket 'no_plan';\n\nno_shuffle();\nrun_tests();\n\n__DATA__\n" + blocks)
    return path


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_s": statistics.median(ordered), "mean_s": statistics.fmean(ordered),
            "p90_s": ordered[int(0.9 * (len(ordered) - 1))], "min_s": ordered[0], "max_s": ordered[-1],
            "n": len(ordered)}


def step_stats(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median and p90 (ms) of each step over switches."""
    keys = sorted({k for s in samples for k in s})
    out = {}
    for key in keys:
        values = sorted(s[key] for s in samples if key in s)
        out[key] = {"median_ms": round(statistics.median(values), 2),
                    "p90_ms": round(values[int(0.9 * (len(values) - 1))], 2), "n": len(values)}
    return out


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def switch_breakdown(stage: Stage, count: int) -> dict:
    """A switch's steps, through the agent and through ``docker exec`` (one pooled container)."""
    fixtures = iter(Fixture.inline(f"breakdown-{n}", config=location(50_000 + n)) for n in range(3 * count + 1))
    nginx = stage.openresty(next(fixtures))
    try:
        agent_steps = []
        for _ in range(count):
            time.sleep(0.15)  # past the master's 100 ms pause after the last reload (see docs/perf.md)
            nginx.switch(next(fixtures))
            agent_steps.append(dict(nginx.last_switch))
        link = nginx.io.use_engine()  # the engine's path, as where it shares no files with us
        exec_steps = []
        try:
            for _ in range(count):
                time.sleep(0.15)
                nginx.switch(next(fixtures))
                gen = nginx.generation
                test = f"{nginx.profile.nginx_bin} -p /harness/ -c /harness/gen/{gen}/nginx.conf -t"
                exec_steps.append({**nginx.last_switch, "exec.true": timed(lambda: nginx.sh("true")),
                                   "exec.nginx_t": timed(lambda: nginx.sh(test)),
                                   "exec.worker_table": timed(nginx.workers)})
        finally:
            nginx.io.use_agent(link)
        for sample in agent_steps:
            sample["agent.worker_table"] = timed(nginx.workers)
    finally:
        stage.release(nginx)
    return {"agent": step_stats(agent_steps), "exec": step_stats(exec_steps)}


def port_free(port: int) -> bool:
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return not out.strip()


def run_test_nginx(checkout: Path, directory: Path, count: int, offset: int) -> Optional[float]:
    """Seconds per block for ``count`` blocks under prove (restart mode), or None if port 1984 stayed taken."""
    t_file = write_t_file(directory, count, offset)
    deadline = time.monotonic() + 300
    while not port_free(1984):  # Test::Nginx's fixed port: one prove at a time on this machine
        if time.monotonic() > deadline:
            return None
        time.sleep(1)
    env = {**os.environ, **TEST_NGINX_ENV, "PERL5LIB": f"{checkout / 'lib'}:."}
    env.pop("TEST_NGINX_USE_HUP", None)
    started = time.perf_counter()
    done = subprocess.run([shutil.which("tini") or "tini", "-s", "--", "prove", str(t_file.relative_to(directory))],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"prove failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="each round runs all scenarios in every mode")
    parser.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                        help="switch each container only when its scenario starts (as a plain loop would)")
    parser.add_argument("--breakdown", type=int, default=10, help="switches per path in the step breakdown")
    parser.add_argument("--test-nginx", type=Path, metavar="DIR",
                        help="a Test::Nginx checkout: run the same blocks under prove in every round")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "scenarios.json")
    args = parser.parse_args()
    if args.test_nginx is not None and not (args.test_nginx / "lib" / "Test" / "Nginx" / "Socket.pm").is_file():
        parser.error(f"--test-nginx {args.test_nginx}: no lib/Test/Nginx/Socket.pm there: pass a checkout of "
                     f"openresty/test-nginx")
    if args.test_nginx is not None and not (shutil.which("prove") and shutil.which("tini")):
        parser.error("--test-nginx needs prove and tini on PATH (apt-get install perl tini): see TEST-NGINX.md")

    modes = ["hup", "fresh"] + (["test-nginx"] if args.test_nginx else [])
    per_scenario: dict[str, list[float]] = {m: [] for m in modes}
    per_round: dict[str, list[float]] = {m: [] for m in modes}
    switches: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp, Stage.open(rootdir=ROOT) as stage:
        facts = probe(stage.engine, stage.resolver.resolve("openresty"), stage.session.labels)
        runner = ScenarioRunner(stage)
        # warm-up: the pool gets its containers, as a run's first items warm it from what was collected
        warm = [load_file(p)[0] for p in write_scenarios(Path(tmp), 1 + stage.prefetcher.depth, True, 10_000)]
        for plan in [runner.plan_for(w) for w in warm]:
            stage.prefetcher.want(plan)  # side by side, as many as the prefetcher prepares
        stage.prefetcher.close()  # waits for them and gives them to the pool
        breakdown = switch_breakdown(stage, args.breakdown)
        for r in range(args.rounds):
            for mode in modes[r % len(modes):] + modes[:r % len(modes)]:
                offset = r * 1000 + 100 * modes.index(mode)
                if mode == "test-nginx":
                    tn = run_test_nginx(args.test_nginx, Path(tmp) / "tn", args.scenarios, offset)
                    if tn is not None:
                        per_round[mode].append(tn)
                        per_scenario[mode].append(tn)
                    print(f"round {r + 1}/{args.rounds} {mode:>10}: "
                          f"{'port 1984 stayed taken' if tn is None else f'{tn * 1000:6.1f} ms per block'}",
                          file=sys.stderr)
                    continue
                files = write_scenarios(Path(tmp), args.scenarios, mode == "hup", offset)
                loaded = [load_file(f)[0] for f in files]
                stage.pool.switches.clear()
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
                if mode == "hup":
                    switches += list(stage.pool.switches)
                print(f"round {r + 1}/{args.rounds} {mode:>10}: {per_round[mode][-1] * 1000:6.1f} ms per scenario "
                      f"(mean), median {statistics.median(per_scenario[mode][-len(loaded):]) * 1000:.1f} ms",
                      file=sys.stderr)
        reach = stage.reach_mode

    hup = stats(per_scenario["hup"])
    fresh = stats(per_scenario["fresh"])
    hup_mean = statistics.fmean(per_round["hup"])  # what a user waits for, prefetch waits included
    result = {
        "benchmark": "scenarios",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios_per_round": args.scenarios, "rounds": args.rounds, "reach": reach, "prefetch": args.prefetch,
        "load_average": os.getloadavg(),
        "image": as_record(facts),
        "per_scenario": {"hup": hup, "fresh": fresh},
        "per_round_mean_s": per_round,
        "hup_mean_s": hup_mean,
        "switch_steps_ms": {"rounds": step_stats(switches), **breakdown},
        "targets_s": {"hup_median": 0.030, "hup_mean": 0.040, "fresh_median": 0.400, "test_nginx_over_ours": 5.0},
        "ratios": {"fresh_over_hup": fresh["median_s"] / hup["median_s"]},
    }
    if per_round.get("test-nginx"):
        tn_mean = statistics.fmean(per_round["test-nginx"])
        result["test_nginx"] = {"mode": "restart", "checkout": str(args.test_nginx), "per_block_s": per_round["test-nginx"],
                                "mean_s": tn_mean}
        result["ratios"].update({"test_nginx_over_ours_mean": tn_mean / hup_mean,
                                 "test_nginx_over_ours_median": tn_mean / hup["median_s"],
                                 "test_nginx_over_ours_fresh": tn_mean / fresh["median_s"]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"per scenario: HUP reuse median {hup['median_s'] * 1000:.1f} ms (target 30), mean {hup_mean * 1000:.1f} ms "
          f"(target 40); fresh median {fresh['median_s'] * 1000:.1f} ms (target 400)")
    if "test_nginx" in result:
        print(f"Test::Nginx (restart mode) {result['test_nginx']['mean_s'] * 1000:.1f} ms per block: "
              f"{result['ratios']['test_nginx_over_ours_mean']:.1f}x our mean, "
              f"{result['ratios']['test_nginx_over_ours_median']:.1f}x our median (target 5x)")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
