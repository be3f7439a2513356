"""The built wheel, installed into a fresh virtualenv outside this repository, works for a new project:
``harness init``, the scaffold's pytest, ``harness run`` in the scaffold and with no argument (the
embedded catalogue against the embedded sample app), ``harness perf compare`` on its default fixture.

The virtualenv reuses the dependencies already installed (a ``.pth`` line to their site-packages) and
installs only the wheel (``--no-deps``), so it takes seconds; nothing of the repository is reachable.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import __version__
from harness.scenarios.loader import load_file
from tests.conftest import REPO
from tests.wheel import build_wheel, missing_from_wheel

pytestmark = pytest.mark.integration
DEPENDENCIES = Path(sysconfig.get_paths()["purelib"])
PATH_SETTINGS = ("HARNESS_FIXTURES_DIR", "HARNESS_APP", "HARNESS_REPORTS_DIR", "HARNESS_SCENARIO_REPORT")
PROBE = """
import importlib.util, json, sys
import harness
from harness import resources
print(json.dumps({"harness": harness.__file__, "fixtures": str(resources.fixtures_dir()),
                  "catalogue": str(resources.catalogue_dir()), "sys_path": sys.path,
                  "tests_importable": importlib.util.find_spec("tests") is not None,
                  "meta_path": [type(f).__module__ for f in sys.meta_path]}))
"""


@dataclass
class Installed:
    """A virtualenv holding only the wheel, and a working directory outside the repository."""

    venv: Path
    work: Path
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, step: str, *argv: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        started = time.perf_counter()
        done = subprocess.run(list(argv), cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        self.seconds[step] = round(time.perf_counter() - started, 1)
        return done

    def harness(self, step: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(step, str(self.venv / "bin" / "harness"), *args, cwd=cwd, timeout=timeout)

    def python(self, step: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(step, str(self.venv / "bin" / "python"), *args, cwd=cwd, timeout=timeout)


def output(done: subprocess.CompletedProcess[str]) -> str:
    """The exit code, pytest's failure sections if any (else the tail), stderr's tail."""
    failures = done.stdout.find("= FAILURES =")
    shown = done.stdout[failures:][:8000] if failures >= 0 else done.stdout[-6000:]
    return f"exit {done.returncode}\n{shown}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(harness_stage, tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    started = time.perf_counter()
    wheel = build_wheel(REPO, root / "dist")
    assert missing_from_wheel(wheel, REPO) == [], "the wheel lacks files of its packages (pyproject package-data)"
    built = time.perf_counter()
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "_dependencies.pth").write_text(f"{DEPENDENCIES}\n")  # deps only: no harness there
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, timeout=120, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in PATH_SETTINGS and not k.startswith(("PYTHON", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = root / "work"
    work.mkdir()
    installed = Installed(venv, work, env, {"build wheel": round(built - started, 1),
                                            "venv + install": round(time.perf_counter() - built, 1)})
    yield installed
    print(f"\ninstall test, seconds per step: {json.dumps(installed.seconds)}")
    reports = REPO / "reports" / "installed"  # the embedded catalogue's reports, for CI artifacts
    if (work / "reports").is_dir():
        shutil.rmtree(reports, ignore_errors=True)
        shutil.copytree(work / "reports", reports)


def test_nothing_of_the_repository_is_reachable(installed):
    done = installed.python("probe", "-c", PROBE, cwd=installed.work)
    assert done.returncode == 0, output(done)
    seen = json.loads(done.stdout)
    for key in ("harness", "fixtures", "catalogue"):
        assert Path(seen[key]).is_relative_to(installed.venv), (key, seen[key])
    assert not seen["tests_importable"]
    assert not [m for m in seen["meta_path"] if "editable" in m], seen["meta_path"]
    in_repo = [p for p in seen["sys_path"] if p and Path(p).resolve().is_relative_to(REPO)]
    assert in_repo == [str(DEPENDENCIES)], in_repo  # only the reused dependencies (the repo's .venv)
    assert not (DEPENDENCIES / "harness").exists() and not (DEPENDENCIES / "nginx-fixtures").exists()


def test_init_then_pytest_and_harness_run_are_green(installed):
    done = installed.harness("harness init", "init", "proj", cwd=installed.work)
    assert done.returncode == 0, output(done)
    again = installed.harness("init again", "init", "proj", cwd=installed.work)
    assert again.returncode == 2 and again.stderr.startswith("harness: init would overwrite proj/"), output(again)
    project = installed.work / "proj"
    tests = installed.python("scaffold pytest", "-m", "pytest", "-p", "no:cacheprovider",
                             "--junitxml=reports/tests.xml", cwd=project, timeout=240)
    assert tests.returncode == 0 and "5 passed" in tests.stdout, output(tests)
    assert f"harness version: openresty-harness {__version__} at {installed.venv}" in tests.stdout
    assert f'<property name="harness.version" value="{__version__}"' in (project / "reports/tests.xml").read_text()
    assert json.loads((project / "reports/run.json").read_text())["harness_version"] == __version__
    run = installed.harness("scaffold harness run", "run", cwd=project, timeout=240)
    assert run.returncode == 0 and "scenarios: 2/2 passed" in run.stdout, output(run)
    assert f"openresty-harness {__version__}" in (project / "reports/scenarios.html").read_text()


@pytest.mark.timeout(900)
def test_harness_run_without_argument_runs_the_embedded_catalogue(installed):
    expected = sum(len(load_file(p)) for p in (REPO / "scenarios" / "catalogue").glob("*.scenario.yaml"))
    done = installed.harness("harness run (catalogue)", "run", cwd=installed.work, timeout=840)
    assert done.returncode == 0 and f"scenarios: {expected}/{expected} passed" in done.stdout, \
        f"{output(done)}\n(the whole report: {REPO}/reports/installed/scenarios.html)"
    assert str(installed.venv) in done.stdout  # the catalogue's files were the installed ones
    assert json.loads((installed.work / "reports/run.json").read_text())["harness_version"] == __version__


def test_perf_compare_on_the_default_fixture(installed):
    done = installed.harness("harness perf compare", "perf", "compare", "--rounds", "3", "-o", "reports/perf.json",
                             cwd=installed.work, timeout=240)
    assert done.returncode in (0, 1), output(done)  # an A/A verdict either way; 2 would mean it could not measure
    record = json.loads((installed.work / "reports/perf.json").read_text())
    assert record["harness_version"] == __version__ and record["baseline"]["fixture"] == "hello"
    assert len(record["measurement"]["rounds"]) == 6, output(done)


def test_coverage_and_a_matrix_from_the_installed_wheel(installed):
    """What a team adds to its CI file works pip-installed, outside the repository: `harness t` with
    --harness-coverage (the line hook and the code-line finder are the wheel's own files) and a matrix
    of the two twins."""
    suite = installed.work / "covsuite"
    shutil.copytree(REPO / "tests" / "coverage_fixture" / "suite", suite)
    done = installed.harness("harness t --harness-coverage", "t", "t/", "--harness-coverage", cwd=suite, timeout=300)
    assert done.returncode == 0, output(done)
    assert "Lua line coverage: 92.9% (13 of 14 lines in 1 file(s))" in done.stdout, output(done)
    assert f"SF:{suite / 'lib' / 'covsuite.lua'}" in (suite / "reports/coverage/lcov.info").read_text()
    matrix = installed.harness("harness t matrix", "t", "t/", "--image", "twin:bookworm", "--image", "twin:trixie",
                               cwd=suite, timeout=600)
    assert matrix.returncode == 0, output(matrix)
    assert {s.get("name") for s in ET.parse(suite / "reports/matrix/matrix.xml").getroot().iter("testsuite")} \
        >= {"twin:bookworm", "twin:trixie"}, output(matrix)
