"""``harness t PATH...``: Test::Nginx ``.t`` files through pytest, with a prove-like line per file,
a final table, JUnit XML (and pytest-html's report when it is installed) and ``t.json`` (each
block's verdict) under ``reports/``."""
from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from harness.errors import HarnessError, harness_exit
from harness.tnginx.lanes import lanes_of

if TYPE_CHECKING:
    import pytest

OUTCOMES = ("passed", "skipped", "failed")  # a block's phases together: the worst one counts


@dataclass
class FileTally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return "FAILED" if self.failed else "ok"


@dataclass
class Tally:
    """A pytest plugin object recording each ``.t`` block's verdict (setup, call and teardown
    together: the worst of them) and the time per file."""

    blocks: dict[str, str] = field(default_factory=dict)  # node id -> passed / failed / skipped
    causes: dict[str, str] = field(default_factory=dict)  # node id -> "CLASS: detail" (harness.tnginx.reasons)
    seconds: dict[str, float] = field(default_factory=dict)  # .t file -> time of its blocks
    spans: dict[str, list[float]] = field(default_factory=dict)  # node id -> [start (epoch s), seconds] of its run
    started: float = field(default_factory=time.perf_counter)
    lanes: str = "1"  # as RunAhead.describe() says them
    ran_ahead: int = 0  # blocks that started before pytest asked for them

    def pytest_sessionfinish(self, session: "pytest.Session") -> None:
        from harness.tnginx.items import RUN_AHEAD

        ahead = session.config.stash.get(RUN_AHEAD, None)
        if ahead is not None:
            self.lanes, self.ran_ahead = ahead.describe(), ahead.started_ahead

    def pytest_runtest_logreport(self, report: "pytest.TestReport") -> None:
        path = report.nodeid.split("::", 1)[0]
        if not path.endswith(".t"):
            return
        self.seconds[path] = self.seconds.get(path, 0.0) + report.duration
        properties = dict(getattr(report, "user_properties", ()))
        cause = properties.get("cause")
        if properties.get("span"):
            self.spans[report.nodeid] = [float(x) for x in str(properties["span"]).split()]
        if cause:
            self.causes[report.nodeid] = str(cause)
        if report.passed and report.when != "call":
            return  # a setup or teardown that passed says nothing of the block
        earlier = self.blocks.get(report.nodeid, "passed")
        self.blocks[report.nodeid] = max(earlier, report.outcome, key=OUTCOMES.index)

    @property
    def files(self) -> dict[str, FileTally]:
        out = {path: FileTally(seconds=seconds) for path, seconds in self.seconds.items()}
        for nodeid, outcome in self.blocks.items():
            tally = out[nodeid.split("::", 1)[0]]
            setattr(tally, outcome, getattr(tally, outcome) + 1)
        return out

    def lines(self) -> list[str]:
        files = sorted(self.files.items())
        width = max((len(p) for p, _ in files), default=10)
        out = [f"{p:<{width}} .. {t.verdict}  {t.passed} passed, {t.failed} failed, {t.skipped} skipped, "
               f"{t.seconds:.2f}s" for p, t in files]
        total = FileTally(*(sum(getattr(t, k) for _, t in files) for k in ("passed", "failed", "skipped")))
        wall = time.perf_counter() - self.started
        out += ["", f"{'file':<{width}}  passed failed skipped", "-" * (width + 24)]
        out += [f"{p:<{width}}  {t.passed:>6} {t.failed:>6} {t.skipped:>7}" for p, t in files]
        out += ["-" * (width + 24), f"{'Files=' + str(len(files)):<{width}}  {total.passed:>6} {total.failed:>6} "
                f"{total.skipped:>7}   wall {wall:.2f}s  Result: {'FAIL' if total.failed else 'PASS'}"]
        if self.lanes != "1":
            out.append(f"lanes: {self.lanes} ({self.ran_ahead} blocks started while an earlier one ran)")
        return out + self.cause_lines()

    def cause_lines(self) -> list[str]:
        """Blocks that did not run as under prove, counted by cause (class and detail)."""
        if not self.causes:
            return []
        counts: dict[str, int] = {}
        for cause in self.causes.values():
            counts[cause] = counts.get(cause, 0) + 1
        out = ["", "blocks that did not run as under prove, by cause:"]
        out += [f"  {n:>5}  {cause}" for cause, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return out


def t_args(paths: Sequence[Path], reports: Path, jobs: str = "", fault: str = "", check_leak: bool = False,
           image: Optional[str] = None, lua_path: Sequence[str] = ()) -> list[str]:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise HarnessError(f"no such .t file or directory: {missing[0]} (give .t files or the directories holding them)")
    reports.mkdir(parents=True, exist_ok=True)
    # every given path is a place to collect .t files from, besides directories named t
    t_paths = ",".join(["t", *(str(Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent) for p in paths)])
    # the scenario front end stays out (its format and plugin are a third of the imports)
    # nor the hunt for unraisable exceptions at the end (gc.collect() over every object: 0.05-0.1 s a run)
    args = [*map(str, paths), "-p", "no:locust", "-p", "no:cacheprovider", "-p", "no:harness.scenarios.plugin",
            "-p", "no:unraisableexception",
            "-q", "--tb=short",
            f"--harness-t-paths={t_paths}", f"--junitxml={reports / 't.xml'}", "-o", "junit_family=xunit1"]
    if importlib.util.find_spec("pytest_html") is not None:
        args += [f"--html={reports / 't.html'}", "--self-contained-html"]
    if jobs:
        args.append(f"--harness-t-lanes={jobs}")  # in this process: one collection, one pool of containers
    if fault:
        args.append(f"--harness-fault={fault}")
    if check_leak:
        args.append("--harness-check-leak=on")
    if image:
        args.append(f"--openresty-image={image}")
    if lua_path:
        args.append(f"--harness-lua-path={os.pathsep.join(str(Path(p).resolve()) for p in lua_path)}")
    return args


def run_t(paths: Sequence[Path], reports: Path = Path("reports"), jobs: str = "", fault: str = "",
          check_leak: bool = False, image: Optional[str] = None, pytest_args: Sequence[str] = (),
          lua_path: Sequence[str] = ()) -> int:
    """Run the files in this process; print the per-file lines and the table; return 0, 1 or 2."""
    import pytest

    from harness.tnginx.faults import parse
    from harness.tnginx.luadeps import LuaDeps

    parse(fault)  # a misspelt fault is a one-line error before anything starts
    LuaDeps.of({}, lua_path)  # so is a --lua-path directory that does not exist
    if jobs:
        try:
            lanes_of(jobs)
        except ValueError as exc:
            raise HarnessError(f"-n {jobs}: {exc}") from None
    tally = Tally()
    began = time.time()
    code = int(pytest.main([*t_args(paths, reports, jobs, fault, check_leak, image, lua_path), *pytest_args],
                           plugins=[tally]))
    print("\n".join(tally.lines()))
    coverage = reports / "coverage" / "summary.txt"  # written by this run under --harness-coverage
    if coverage.is_file() and coverage.stat().st_mtime >= began:
        print(coverage.read_text().strip())
    (reports / "t.json").write_text(json.dumps({"blocks": tally.blocks, "causes": tally.causes, "spans": tally.spans,
                                                "wall_s": time.perf_counter() - tally.started,
                                                "lanes": tally.lanes, "ran_ahead": tally.ran_ahead}, indent=1))
    if code == 5:
        raise HarnessError(f"no .t blocks found in {', '.join(map(str, paths))}")
    return harness_exit(code)
