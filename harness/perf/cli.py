"""``harness perf baseline`` and ``harness perf compare``: the command line of the perf verdict.

Exit codes of ``compare``: 0 pass, 1 regression, 2 the harness could not measure (from ``main``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, get_args

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import HarnessError
from harness.perf.compare import COMPARED
from harness.perf.measure import Interleave, RoundsSpec
from harness.perf.settings import PerfSettings
from harness.settings import Settings

if TYPE_CHECKING:
    from harness.perf.compare import Limits
    from harness.perf.verdict import Verdict

console = Console(stderr=True)


def _env_pairs(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"--env {item!r}: write NAME=VALUE")
        env[key] = value
    return env


def _add_measure_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("measurement")
    g.add_argument("--rounds", type=int, default=RoundsSpec.rounds, help="measurement windows (default %(default)s)")
    g.add_argument("--round-seconds", type=float, default=RoundsSpec.round_s,
                   help="length of a round (default %(default)s s)")
    g.add_argument("--warmup", type=float, default=RoundsSpec.warmup_s,
                   help="seconds of warm-up before round 0 (default %(default)s)")
    g.add_argument("--users", type=int, default=RoundsSpec.users, help="locust users over all processes")
    g.add_argument("--processes", type=int, default=RoundsSpec.processes, help="locust processes")
    g.add_argument("--rate", type=float, default=RoundsSpec.rate,
                   help="requests/s over all users and targets (0: as fast as the driver goes; default %(default)s)")
    g.add_argument("--path", dest="paths", action="append", default=[], help="path to GET (repeatable; default /)")
    g.add_argument("--interleave", choices=get_args(Interleave), default=RoundsSpec.interleave,
                   help="alternate baseline and candidate request by request (steadiest CPU ratio), or by whole "
                        "rounds A B B A ... (each gets the full load: for throughput at full speed)")
    g = p.add_argument_group("containers (the same for both)")
    g.add_argument("--workers", type=int, default=COMPARED.workers, help="worker_processes (default %(default)s)")
    g.add_argument("--cpus", type=float, default=COMPARED.cpus, help="CPU quota (default %(default)s)")
    g.add_argument("--memory", default=COMPARED.memory, help="memory limit (default %(default)s)")
    g.add_argument("--redis", action="store_true", help="start the session's Redis first (fixtures that use it)")


def _spec(args: argparse.Namespace) -> "RoundsSpec":
    try:
        return RoundsSpec(rounds=args.rounds, round_s=args.round_seconds, warmup_s=args.warmup, users=args.users,
                          processes=args.processes, rate=args.rate or None, paths=tuple(args.paths or ["/"]),
                          interleave=args.interleave)
    except ValueError as exc:
        raise HarnessError(f"perf: {exc}") from None


def _limits(args: argparse.Namespace) -> "Limits":
    from harness.perf.compare import Limits

    return Limits.of(workers=args.workers, cpus=args.cpus, memory=args.memory, redis=args.redis)


class RichProgress:
    """Progress callback for :class:`harness.perf.measure.RoundsRunner`: a bar over the rounds."""

    def __init__(self, rounds: int, names: tuple[str, ...]) -> None:
        self.names = names
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.task = self.progress.add_task("starting containers and locust", total=rounds)

    def __enter__(self) -> "RichProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: str, details: dict[str, Any]) -> None:
        if event == "warming":
            self.progress.update(self.task, description=f"warming up ({details['seconds']:g} s)")
        elif event == "round":
            cpu = ", ".join(f"{self.names[t]} {ms:.0f} ms" for t, ms in details["cpu_ms"].items())
            self.progress.update(self.task, completed=details["index"] + 1,
                                 description=f"round {details['index'] + 1}: CPU {cpu}")


def verdict_table(verdict: "Verdict", samples: Mapping[str, Any]) -> Table:
    from harness.perf.verdict import METRIC_INFO

    table = Table(title=verdict.summary(), title_style="bold green" if verdict.passed else "bold red")
    for column in ("metric", "baseline", "candidate", "ratio", f"{verdict.confidence:.0%} interval", "tolerance",
                   "change"):
        table.add_column(column, justify="left" if column in ("metric", "change") else "right")
    for v in verdict.metrics:
        a, b = samples[v.metric]
        unit = METRIC_INFO[v.metric][1]
        table.add_row(f"{v.label} ({unit})", f"{a.mean():.2f}", f"{b.mean():.2f}", f"{v.ratio.estimate:.3f}",
                      f"{v.ratio.low:.3f}-{v.ratio.high:.3f}",
                      f"{v.tolerance:.0%}" if v.tolerance is not None else "-",
                      f"[red]{v.change}[/]" if v.fails else v.change)
    return table


def cmd_perf_baseline(args: argparse.Namespace) -> int:
    """Measure one variant (fixture, image, env) and record it as a baseline JSON."""
    from harness.perf.baseline import record_baseline
    from harness.perf.compare import Variant, default_report_path
    from harness.stage import Stage

    settings = Settings.from_sources()
    variant = Variant(args.fixture, args.image or "", _env_pairs(args.env))
    spec = _spec(args)
    out = Path(args.out) if args.out else default_report_path(settings.reports_dir, "baseline")
    with Stage.open(settings, rootdir=Path.cwd()) as stage, RichProgress(spec.rounds, ("baseline",)) as progress:
        baseline = record_baseline(stage, variant, spec, _limits(args), progress)
    baseline.save(out)
    medians = baseline.medians
    print(f"baseline {variant.describe()} ({baseline.container['image']}): CPU {medians['cpu_us_per_request']:.1f} "
          f"µs/request, {medians['rps']:.0f} req/s, p99 {medians['p99']:.2f} ms (medians over {spec.rounds} rounds)")
    print(f"written to {out}")
    return 0


def cmd_perf_compare(args: argparse.Namespace) -> int:
    """Run baseline and candidate side by side, interleaved; verdict, JSON and HTML under reports/perf/."""
    from harness.perf import report
    from harness.perf.baseline import Baseline
    from harness.perf.compare import Comparison, Variant, default_report_path
    from harness.perf.verdict import parse_tolerances
    from harness.stage import Stage

    settings = Settings.from_sources()
    spec, limits = _spec(args), _limits(args)
    if args.baseline:
        recorded = Baseline.load(args.baseline)
        baseline = recorded.pinned()
        print(f"baseline from {args.baseline} (recorded {recorded.recorded}): {baseline.describe()}; it runs "
              f"again beside the candidate (recorded CPU {recorded.medians['cpu_us_per_request']:.1f} µs/request)")
    else:
        baseline = Variant(args.fixture_a or args.fixture, args.image_a or "", _env_pairs(args.env_a))
    candidate = Variant(args.fixture_b or args.fixture, args.image_b or "", _env_pairs(args.env_b))
    if candidate == baseline:
        print("note: baseline and candidate are the same (an A/A run: it shows the noise floor)")
    try:
        tolerance = PerfSettings.from_sources().perf_tolerance if args.tolerance is None else args.tolerance
        tolerances = parse_tolerances(args.gate, tolerance)
    except ValueError as exc:
        raise HarnessError(str(exc)) from None
    out = Path(args.out) if args.out else default_report_path(settings.reports_dir, "compare")
    with Stage.open(settings, rootdir=Path.cwd()) as stage, \
            RichProgress(spec.rounds, ("baseline", "candidate")) as progress:
        result = Comparison(stage, baseline, candidate, spec, limits, progress).run()
    verdict = result.verdict(tolerances, confidence=args.confidence)
    Console(width=None if sys.stdout.isatty() else 140).print(verdict_table(verdict, result.samples()))
    json_path, html_path = report.write(result, verdict, out)
    print(f"measured {spec.measured_s:g} s ({result.measurement.wall_s:.0f} s with warm-up and start-up); "
          f"{result.measurement.total_failures} failed requests; written {json_path} and {html_path}")
    return verdict.exit_code


def _perf_entry(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Unexpected errors of a perf command are harness errors (exit 2), never a verdict (exit 1)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except HarnessError:
            raise
        except (ValueError, OSError, KeyError) as exc:
            raise HarnessError(f"perf {args.perf_command}: {type(exc).__name__}: {exc}") from exc
    run.__doc__ = func.__doc__
    return run


def add_parser(sub: Any, help: str) -> None:
    """Register ``perf baseline`` and ``perf compare`` on the ``harness`` command (``sub``: what
    ``ArgumentParser.add_subparsers()`` returned)."""
    perf = sub.add_parser("perf", help=help)
    commands = perf.add_subparsers(dest="perf_command", required=True)
    p = commands.add_parser("baseline", help=cmd_perf_baseline.__doc__)
    p.add_argument("--fixture", default="hello", help="fixture name or directory (default hello)")
    p.add_argument("--image", help="OpenResty image (default: the session's)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="fixture environment")
    p.add_argument("-o", "--out", help="baseline JSON (default reports/perf/baseline-<time>.json)")
    _add_measure_options(p)
    p.set_defaults(func=_perf_entry(cmd_perf_baseline))

    p = commands.add_parser("compare", help=cmd_perf_compare.__doc__)
    p.add_argument("--baseline", help="a baseline JSON from `perf baseline`: its fixture, image (pinned by id) "
                                      "and env are the baseline side")
    p.add_argument("--fixture", default="hello", help="fixture of both sides unless --fixture-a/-b (default hello)")
    p.add_argument("--fixture-a", help="baseline's fixture (name or directory)")
    p.add_argument("--fixture-b", help="candidate's fixture")
    p.add_argument("--image-a", help="baseline's OpenResty image")
    p.add_argument("--image-b", help="candidate's OpenResty image")
    p.add_argument("--env-a", action="append", default=[], metavar="NAME=VALUE", help="baseline's environment")
    p.add_argument("--env-b", action="append", default=[], metavar="NAME=VALUE", help="candidate's environment")
    g = p.add_argument_group("verdict")
    g.add_argument("--tolerance", type=float, default=None,
                   help="CPU per request may grow by this fraction (default HARNESS_PERF_TOLERANCE, 0.03)")
    g.add_argument("--gate", action="append", default=[], metavar="METRIC=FRACTION",
                   help="also gate on rps, p50, p90, p99 or p99.9 (repeatable), e.g. --gate p99=0.25")
    g.add_argument("--confidence", type=float, default=0.95, help="of the bootstrap intervals (default 0.95)")
    p.add_argument("-o", "--out", help="result JSON (the HTML goes beside it; default reports/perf/compare-<time>.json)")
    _add_measure_options(p)
    p.set_defaults(func=_perf_entry(cmd_perf_compare))

