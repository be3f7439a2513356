"""Run a test suite N times and report every test that ever failed (flakiness hunting)."""
from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence


def failed_tests(junit: Path) -> list[str]:
    """Test ids that failed or errored in a JUnit XML file (all, if the file is missing)."""
    if not junit.exists():
        return ["<the run produced no report>"]
    failed = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}")
    return failed


def soak(runs: int, pytest_args: Sequence[str], reports: Path, log: Callable[[str], None] = print) -> Counter[str]:
    """Run ``pytest pytest_args`` ``runs`` times; return how often each failing test failed."""
    reports.mkdir(parents=True, exist_ok=True)
    failures: Counter[str] = Counter()
    for i in range(1, runs + 1):
        junit = reports / f"soak-{i}.xml"
        junit.unlink(missing_ok=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={junit}", *pytest_args], capture_output=True, text=True)
        failed = failed_tests(junit) if proc.returncode != 0 else []
        failures.update(failed)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else f"exit {proc.returncode}"
        log(f"run {i}/{runs}: {summary} ({time.monotonic() - started:.0f}s)")
    return failures
