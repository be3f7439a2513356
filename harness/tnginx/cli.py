"""``harness t PATH...``: Test::Nginx ``.t`` files through pytest, with a prove-like line per file,
a final table, JUnit XML (and pytest-html's report when it is installed) and ``t.json`` (each
block's verdict) under ``reports/``."""
from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from harness.errors import HarnessError

EXIT_CODES = {0: 0, 1: 1}  # pytest's -> the harness's: 0 all passed, 1 a block failed, else 2


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
    """A pytest plugin object counting block verdicts per ``.t`` file."""

    files: dict[str, FileTally] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)  # node id -> passed / failed / skipped
    started: float = field(default_factory=time.perf_counter)

    def pytest_runtest_logreport(self, report) -> None:
        path = report.nodeid.split("::", 1)[0]
        if not path.endswith(".t"):
            return
        tally = self.files.setdefault(path, FileTally())
        tally.seconds += report.duration
        if report.when == "call" or (report.when == "setup" and report.skipped) or (report.failed and report.when != "call"):
            if report.passed and report.when == "call":
                tally.passed += 1
                self.blocks[report.nodeid] = "passed"
            elif report.skipped:
                tally.skipped += 1
                self.blocks[report.nodeid] = "skipped"
            elif report.failed:
                tally.failed += 1
                self.blocks[report.nodeid] = "failed"

    def lines(self) -> list[str]:
        width = max((len(p) for p in self.files), default=10)
        out = [f"{p:<{width}} .. {t.verdict}  {t.passed} passed, {t.failed} failed, {t.skipped} skipped, "
               f"{t.seconds:.2f}s" for p, t in sorted(self.files.items())]
        total = FileTally(*(sum(getattr(t, k) for t in self.files.values()) for k in ("passed", "failed", "skipped")))
        wall = time.perf_counter() - self.started
        out += ["", f"{'file':<{width}}  passed failed skipped", "-" * (width + 24)]
        out += [f"{p:<{width}}  {t.passed:>6} {t.failed:>6} {t.skipped:>7}" for p, t in sorted(self.files.items())]
        out += ["-" * (width + 24), f"{'Files=' + str(len(self.files)):<{width}}  {total.passed:>6} {total.failed:>6} "
                f"{total.skipped:>7}   wall {wall:.2f}s  Result: {'FAIL' if total.failed else 'PASS'}"]
        return out


def t_args(paths: Sequence[Path], reports: Path, jobs: int = 0, fault: str = "", check_leak: bool = False,
           image: Optional[str] = None) -> list[str]:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise HarnessError(f"no such .t file or directory: {missing[0]} (give .t files or the directories holding them)")
    reports.mkdir(parents=True, exist_ok=True)
    # every given path is a place to collect .t files from, besides directories named t
    t_paths = ",".join(["t", *(str(Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent) for p in paths)])
    args = [*map(str, paths), "-p", "no:locust", "-p", "no:cacheprovider", "-q", "--tb=short",
            f"--harness-t-paths={t_paths}", f"--junitxml={reports / 't.xml'}", "-o", "junit_family=xunit1"]
    if importlib.util.find_spec("pytest_html") is not None:
        args += [f"--html={reports / 't.html'}", "--self-contained-html"]
    if jobs:
        args += ["-n", str(jobs), "--dist", "loadfile"]  # a file's blocks stay in order on one worker
    if fault:
        args.append(f"--harness-fault={fault}")
    if check_leak:
        args.append("--harness-check-leak=on")
    if image:
        args.append(f"--openresty-image={image}")
    return args


def run_t(paths: Sequence[Path], reports: Path = Path("reports"), jobs: int = 0, fault: str = "",
          check_leak: bool = False, image: Optional[str] = None, pytest_args: Sequence[str] = ()) -> int:
    """Run the files in this process; print the per-file lines and the table; return 0, 1 or 2."""
    import pytest

    from harness.tnginx.faults import RunFault

    RunFault.parse(fault)  # a misspelt fault is a one-line error before anything starts
    tally = Tally()
    code = int(pytest.main([*t_args(paths, reports, jobs, fault, check_leak, image), *pytest_args], plugins=[tally]))
    print("\n".join(tally.lines()))
    (reports / "t.json").write_text(json.dumps({"blocks": tally.blocks, "wall_s": time.perf_counter() - tally.started},
                                               indent=1))
    if code == 5:
        raise HarnessError(f"no .t blocks found in {', '.join(map(str, paths))}")
    return EXIT_CODES.get(code, 2)
