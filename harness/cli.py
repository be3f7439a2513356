"""``harness`` command: doctor, engine, images, sweep, options, perf, preflight."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from harness import __version__
from harness.configuration import OPTION, options_markdown
from harness.engine import Engine, ensure_engine
from harness.errors import HarnessError
from harness.images import offline
from harness.images.components import OFFICIAL_SOURCE
from harness.images.facts import PROMISE_BROKEN, ImageFacts, compare
from harness.images.resolver import OFFICIAL, ImageResolver
from harness.preflight import cli as preflight_cli
from harness.runtime import HarnessRuntime
from harness.session import LABEL_SESSION, remove_labelled, sweep_stale
from harness.settings import Settings


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the engine, the images that will be used and where they came from, and each component
    they contain beside its version in the pinned official images."""
    runtime = HarnessRuntime(Settings.from_sources(), Path.cwd())
    try:
        for line in runtime.header():
            print(line)
        broken = [row.component for row in compare(runtime.facts) if row.verdict == PROMISE_BROKEN]
        if runtime.facts:
            print()
            print(component_table(runtime.facts, verbose=args.verbose))
        for kind, facts in runtime.facts.items():
            if args.verbose:
                print(f"\n[{kind}] {facts.ref}\n{facts.version}\n{facts.luajit}".rstrip())
        if broken:
            print(f"harness: the {runtime.facts['openresty'].profile} image lacks what its profile promises: "
                  f"{', '.join(broken)}; rebuild it (`harness images build`)", file=sys.stderr)
        return 1 if runtime.fact_errors or runtime.error or broken else 0
    finally:
        runtime.close()


def component_table(facts: dict[str, ImageFacts], verbose: bool = False) -> str:
    """The doctor's table: component, the official image's version, this run's, and whether they match."""
    rows = [("component", "official", "this run", "")] + [r.cells() for r in compare(facts)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    if verbose and "openresty" in facts:
        details = {n: c.get("detail", "") for n, c in facts["openresty"].components.items()}
        lines = lines[:1] + [f"{line}  {details.get(row.component, '')}".rstrip()
                             for line, row in zip(lines[1:], compare(facts))]
    official = ", ".join(OFFICIAL[k] for k in facts)
    return "\n".join([f"official: {official} (OpenResty's parts as recorded from {OFFICIAL_SOURCE})", *lines])


def cmd_engine(args: argparse.Namespace) -> int:
    """Make sure an engine answers; on Debian as root, install and start dockerd."""
    engine = Engine.connect() if args.check else ensure_engine(timeout=args.timeout)
    print(engine.describe())
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    """build: the offline twins where the official images are not available (or always, --offline);
    list: the images a run would use, and every image the harness built on this engine."""
    if args.action == "list":
        return list_images()
    settings = Settings.from_sources()
    engine = ensure_engine()
    if args.twin:  # what twin:NAME image references (matrix runs) name, whatever Docker Hub has
        for release in dict.fromkeys(args.twin):
            offline.OfflineBuilder(engine, twin=release).build("openresty")
        return 0
    builder = offline.OfflineBuilder(engine, twin=settings.twin)
    resolver = ImageResolver(engine, pull=settings.may_pull and not args.offline, twin=settings.twin)
    for kind in offline.KINDS:
        if not args.offline:
            image, reason = resolver.official(kind)
            if image is not None:
                print(f"{kind}: official {OFFICIAL[kind]} is available; no offline build needed")
                continue
            print(f"{kind}: official {OFFICIAL[kind]} unavailable ({reason}); using the offline twin")
        builder.build(kind)
    return 0


def list_images() -> int:
    settings = Settings.from_sources()
    engine = Engine.connect()
    resolver = ImageResolver.from_settings(engine, settings, pull=False)
    code = 0
    print("used by a run:")
    for kind in OFFICIAL:
        try:
            line = resolver.resolve(kind).describe()  # listing never pulls; a run would try first
            print(f"  {kind:<9} {line.replace('pulling disabled (HARNESS_PULL=never)', 'not here; a run tries a pull first')}")
        except HarnessError as exc:
            print(f"  {kind:<9} none: {exc.message}")
            code = 1
    print(f"built here ({offline.NAMESPACE}/*):")
    for image in engine.client.images.list(name=f"{offline.NAMESPACE}/*"):
        created = image.attrs.get("Created", "")[:19].replace("T", " ")
        print(f"  {', '.join(image.tags) or image.short_id:<55} {image.short_id[7:]}  {created}  "
              f"{image.attrs.get('Size', 0) / 1e6:.0f} MB")
    return code


def cmd_sweep(args: argparse.Namespace) -> int:
    """Remove resources of dead harness runs (all harness resources with --all)."""
    engine = Engine.connect()
    removed = remove_labelled(engine, LABEL_SESSION) if args.all else sweep_stale(engine)
    print(f"removed {removed}")
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    """Run the integration suite N times; list every test that ever failed (exit 1 if any did)."""
    from harness.soak import soak

    failures = soak(args.runs, args.pytest_args or ["tests/integration"], Path(args.reports))
    if not failures:
        print(f"soak: {args.runs} consecutive runs, no test failed")
        return 0
    print(f"soak: {sum(failures.values())} failure(s) in {args.runs} runs:")
    for test, count in failures.most_common():
        print(f"  {count}x {test}")
    return 1


def run_matrix(args: argparse.Namespace, junit: str, argv: Callable[[str, Path], list[str]]) -> int:
    """One child run per image (``argv(image, its reports directory)``), then the compatibility table."""
    from harness.matrix import MatrixRun, check_images

    reports = Path(args.reports) / "matrix"
    run = MatrixRun(check_images(args.image), argv, reports, junit, jobs=args.matrix_jobs)
    at_once = "side by side" if run.jobs in (0, len(run.images)) else f"{run.jobs} at a time"
    print(f"harness: matrix of {len(run.images)} images, one run each, {at_once} "
          f"(each run's output: {reports}/<image>/output.txt)", flush=True)
    matrix = run.run()
    print(matrix.table())
    paths = matrix.write(reports)
    code = matrix.exit_code(args.allow_diff)
    print(f"harness: matrix in {', '.join(map(str, paths))} (exit {code}: "
          f"{('no test passes on one image and fails on another', 'a test differs or fails', 'a run failed')[code]})")
    return code


def pytest_passing(args: Sequence[str]) -> list[str]:
    return [f"--pytest={a}" for a in args]


def cmd_run(args: argparse.Namespace) -> int:
    """Run scenarios (default: ./scenarios, else the embedded catalogue) against an image and app."""
    from harness.matrix import harness_argv
    from harness.scenarios.run import ScenarioRun

    if len(args.image or []) > 1:
        app = ["--app", str(Path(args.app).resolve())] if args.app else []
        return run_matrix(args, "scenarios.xml", lambda image, where: harness_argv(
            "run", *args.paths, "--image", image, "--reports", str(where), *app,
            *pytest_passing([*coverage_args(args), *args.pytest_args])))

    run = ScenarioRun(paths=[Path(p) for p in args.paths], image=(args.image or [None])[0],
                      app=Path(args.app) if args.app else None, reports=Path(args.reports),
                      pytest_args=[*coverage_args(args), *args.pytest_args])
    code = run.run()
    print(f"harness run: reports in {args.reports}/scenarios.html and {args.reports}/scenarios.xml "
          f"(exit {code}: {('all passed', 'a scenario failed', 'the run failed')[code]})")
    return code


def cmd_init(args: argparse.Namespace) -> int:
    """Start a project: an app (server.conf + lua/), a pytest test, a scenario and a CI file."""
    from harness.scaffold import Scaffold

    target = Path(args.directory)
    from harness.matrix import check_images, parse_images

    matrix = tuple(check_images(parse_images(args.matrix))) if args.matrix else ()
    written = Scaffold(target, ci=args.ci, coverage=args.coverage, matrix=matrix).write()
    for path in written:
        print(f"  wrote {path}")
    where = "" if target.resolve() == Path.cwd().resolve() else f"cd {args.directory} && "
    print(f"next: {where}pytest   (your tests and scenarios on real containers), then `harness run` "
          "(the scenarios, with reports/scenarios.html)")
    return 0


def cmd_t(args: argparse.Namespace) -> int:
    """Run Test::Nginx .t files (files or directories) on the harness: a line per file, a table."""
    from harness.matrix import harness_argv
    from harness.tnginx.cli import run_t

    from harness.tnginx.settings import TSettings

    more = coverage_args(args)
    try:
        watching = args.watch or TSettings.from_sources().watches
    except ValueError as exc:
        raise HarnessError(str(exc)) from None
    if watching:
        return watch_t(args, more)
    if len(args.image or []) > 1:
        options = [*(["-n", str(args.jobs)] if args.jobs else []), *(["--harness-fault", args.fault] if args.fault else []),
                   *(["--harness-check-leak"] if args.check_leak else []),
                   *(f"--lua-path={Path(d).resolve()}" for d in args.lua_path)]
        return run_matrix(args, "t.xml", lambda image, where: harness_argv(  # coverage: beside each run's t.xml
            "t", *args.paths, "--image", image, "--reports", str(where), *options,
            f"--pytest=--harness-reports-dir={where.resolve()}", *pytest_passing([*more, *args.pytest_args])))
    if more:  # reports/coverage/ beside t.xml
        more.append(f"--harness-reports-dir={Path(args.reports).resolve()}")
    code = run_t([Path(p) for p in args.paths], Path(args.reports), jobs=args.jobs, fault=args.fault or "",
                 check_leak=args.check_leak, image=(args.image or [None])[0], pytest_args=[*more, *args.pytest_args],
                 lua_path=args.lua_path)
    print(f"harness t: JUnit in {args.reports}/t.xml (exit {code}: "
          f"{('all passed', 'a block failed', 'the run failed')[code]})")
    return code


def watch_t(args: argparse.Namespace, more: Sequence[str]) -> int:
    """``harness t --watch``: the blocks once, then again on every save (harness.tnginx.watch)."""
    from harness.tnginx.watch import watch

    if len(args.image or []) > 1 or more or args.pytest_args:
        raise HarnessError("--watch runs on one image, without --harness-coverage or --pytest: drop those "
                           "(or run without --watch)")
    return watch([Path(p) for p in args.paths], Path(args.reports), jobs=args.jobs, fault=args.fault or "",
                 check_leak=args.check_leak, image=(args.image or [None])[0], lua_path=args.lua_path)


def add_suite_options(p: argparse.ArgumentParser) -> None:
    """What ``run`` and ``t`` both take: ``--image`` (repeatable: a matrix), ``--allow-diff``,
    ``--matrix-jobs`` and ``--lua-path``."""
    p.add_argument("--image", action="append", help=IMAGE_HELP)
    p.add_argument("--allow-diff", action="store_true", help=ALLOW_DIFF_HELP)
    p.add_argument("--matrix-jobs", type=int, default=0, metavar="N", help=MATRIX_JOBS_HELP)
    p.add_argument("--lua-path", dest="lua_path", action="append", default=[], metavar="DIR",
                   help="a directory of Lua modules the suite needs (repeatable): DIR/?.lua and DIR/?/init.lua "
                        "come first on LUA_PATH; LUA_PATH and LUA_CPATH themselves are honoured as prove's nginx "
                        f"would ({OPTION['lua_path'].env} is the same as a list)")


def add_coverage_options(p: argparse.ArgumentParser) -> None:
    """``--harness-coverage[=PATHS]`` and ``--harness-coverage-min N``, passed on to pytest."""
    p.add_argument("--harness-coverage", dest="coverage", nargs="?", const=OPTION["coverage"].bare, default=None,
                   metavar="PATHS", help=OPTION["coverage"].help)
    p.add_argument("--harness-coverage-min", dest="coverage_min", default=None, metavar="N",
                   help=OPTION["coverage_min"].help)


def coverage_args(args: argparse.Namespace) -> list[str]:
    out = [f"--harness-coverage={args.coverage}"] if args.coverage else []
    return out + ([f"--harness-coverage-min={args.coverage_min}"] if args.coverage_min else [])


def cmd_scenario_reference(args: argparse.Namespace) -> int:
    """Print the scenario field reference (Markdown, for docs/scenario-reference.md)."""
    from harness.scenarios.reference import reference_markdown

    sys.stdout.write(reference_markdown() + "\n")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    """Print the fault table (Markdown): every fault by name, for pytest, YAML and harness t."""
    from harness.faults.registry import fault_markdown

    sys.stdout.write(fault_markdown())
    return 0


def cmd_options(args: argparse.Namespace) -> int:
    """Print the configuration table (Markdown)."""
    sys.stdout.write(options_markdown())
    return 0


PERF_HELP = "performance-regression verdicts (baseline, compare)"
SERVE_HELP = ("keep a stage warm for `harness t` (and pytest given .t files): their runs are handed to it "
              "(--detach, --status, --stop; `harness serve --help`)")
IMAGE_HELP = ("OpenResty image to run against: a reference, or twin:trixie / twin:bookworm (that offline twin, "
              "built on first use); default: official, else the offline twin. Twice or more: a matrix, one run "
              "per image side by side, then a compatibility table (reports/matrix/)")
ALLOW_DIFF_HELP = OPTION["allow_diff"].help
MATRIX_JOBS_HELP = ("matrix: image runs at once (0, the default: all of them, side by side; 1: one after the other, "
                    "for a machine whose CPUs are already busy)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="harness", description="openresty-harness tools")
    parser.add_argument("--version", action="version", version=f"openresty-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help=cmd_doctor.__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="print the full nginx -V output")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("engine", help=cmd_engine.__doc__)
    p.add_argument("--check", action="store_true", help="only check, never install or start")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for dockerd")
    p.set_defaults(func=cmd_engine)
    p = sub.add_parser("images", help=cmd_images.__doc__)
    p.add_argument("action", nargs="?", choices=("build", "list"), default="build")
    p.add_argument("--offline", action="store_true", help="build the offline twins even if Docker Hub works")
    p.add_argument("--twin", action="append", choices=offline.RELEASES,
                   help="build only the offline OpenResty twin of this Debian release (repeatable): the image "
                        "--image twin:NAME runs, e.g. in a matrix")
    p.set_defaults(func=cmd_images)
    p = sub.add_parser("sweep", help=cmd_sweep.__doc__)
    p.add_argument("--all", action="store_true", help="remove every harness resource, live runs' too")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("soak", help=cmd_soak.__doc__)
    p.add_argument("-n", "--runs", type=int, default=5)
    p.add_argument("--reports", default="reports/soak")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: arguments for pytest")
    p.set_defaults(func=cmd_soak)
    p = sub.add_parser("run", help=cmd_run.__doc__)
    p.add_argument("paths", nargs="*", help="scenario files or directories")
    add_suite_options(p)
    p.add_argument("--app", help="your app directory (server.conf/http.conf + lua/): replaces the sample "
                                 "app wherever a scenario says `fixture: app`")
    p.add_argument("--reports", default="reports", help="where scenarios.html and scenarios.xml go")
    p.add_argument("--pytest", dest="pytest_args", action="append", default=[], metavar="ARG",
                   help="one more pytest argument (repeatable), e.g. --pytest=-x --pytest=-k=redis")
    add_coverage_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("init", help=cmd_init.__doc__)
    p.add_argument("directory", nargs="?", default=".", help="where the project goes (default: here)")
    p.add_argument("--ci", choices=("github", "gitlab", "none"), default="github",
                   help="CI file to write: GitHub Actions (default), GitLab CI, or none")
    p.add_argument("--matrix", metavar="IMAGE,IMAGE", help="the CI file runs the tests and scenarios on each of "
                   "these OpenResty images and reports what differs (reports/matrix.txt)")
    p.add_argument("--coverage", action="store_true",
                   help="the CI file's tests measure Lua line coverage of app/lua (--harness-coverage)")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("t", help=cmd_t.__doc__)
    p.add_argument("paths", nargs="+", help=".t files or directories (a suite's t/)")
    p.add_argument("-n", "--jobs", default="", help="blocks run at once, a number or auto (--harness-t-lanes; "
                   "default HARNESS_T_LANES, else auto); for pytest-xdist processes instead: --pytest=-n --pytest=2")
    p.add_argument("--harness-fault", dest="fault", help=OPTION["fault"].help)
    p.add_argument("--harness-check-leak", dest="check_leak", action="store_true", help=OPTION["check_leak"].help)
    p.add_argument("--watch", action="store_true", help=OPTION["watch"].help)
    add_suite_options(p)
    p.add_argument("--reports", default="reports", help="where t.xml (and t.html) go")
    p.add_argument("--pytest", dest="pytest_args", action="append", default=[], metavar="ARG",
                   help="one more pytest argument (repeatable), e.g. --pytest=-x")
    add_coverage_options(p)
    p.set_defaults(func=cmd_t)
    sub.add_parser("scenario-reference", help=cmd_scenario_reference.__doc__).set_defaults(
        func=cmd_scenario_reference)
    sub.add_parser("options", help=cmd_options.__doc__).set_defaults(func=cmd_options)
    sub.add_parser("faults", help=cmd_faults.__doc__).set_defaults(func=cmd_faults)
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["perf"]:
        from harness.perf import cli as perf_cli

        perf_cli.add_parser(sub, PERF_HELP)
    else:  # perf's options come with numpy and locust, a quarter second to import: only for `harness perf`
        sub.add_parser("perf", help=PERF_HELP)
    preflight_cli.add_parser(sub)
    sub.add_parser("serve", help=SERVE_HELP, add_help=False)  # harness.launch runs it (harness.serve.cli)
    args = parser.parse_args(argv)
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"harness: {exc.message}", file=sys.stderr)
        if exc.detail:
            print(exc.detail, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
