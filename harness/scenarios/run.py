"""``harness run``: scenarios against an image and an app directory, through pytest, with JUnit XML
and the HTML report under ``reports/``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from harness.errors import FixtureNotFound, HarnessError, harness_exit
from harness.nginx_conf import Fixture
from harness.resources import catalogue_dir

EMBEDDED_CATALOGUE = catalogue_dir()



@dataclass
class ScenarioRun:
    """What ``harness run`` runs: scenario files or directories, an optional image and app."""

    paths: Sequence[Path] = ()
    image: Optional[str] = None
    app: Optional[Path] = None
    reports: Path = Path("reports")
    pytest_args: Sequence[str] = field(default_factory=tuple)

    def scenario_paths(self) -> list[Path]:
        if self.paths:
            missing = [p for p in self.paths if not Path(p).exists()]
            if missing:
                raise HarnessError(f"no such scenario file or directory: {missing[0]} "
                                   "(give *.scenario.yaml files or directories holding them)")
            return [Path(p) for p in self.paths]
        local = Path.cwd() / "scenarios"
        return [local if local.is_dir() else EMBEDDED_CATALOGUE]

    def check_app(self) -> None:
        """A bad --app is a one-line error before any container starts."""
        if self.app is None:
            return
        if not self.app.is_dir():
            raise FixtureNotFound(f"app directory {self.app} not found: give the directory holding your "
                                  "server.conf / http.conf and lua/")
        Fixture.load(self.app)  # raises when it has neither snippet

    def args(self) -> list[str]:
        self.check_app()
        paths = [str(p) for p in self.scenario_paths()]
        self.reports.mkdir(parents=True, exist_ok=True)
        args = [*paths, "-v", "-p", "no:locust", "-p", "no:cacheprovider", "--tb=short",
                f"--junitxml={self.reports / 'scenarios.xml'}",
                f"--scenario-report={self.reports / 'scenarios.html'}",
                f"--harness-reports-dir={self.reports.resolve()}"]  # run.json beside them, never in the package
        if paths == [str(EMBEDDED_CATALOGUE)]:
            args.append(f"--rootdir={Path.cwd()}")  # not the installed package's directory
        if self.image:
            args.append(f"--openresty-image={self.image}")
        if self.app is not None:
            args.append(f"--harness-app={self.app.resolve()}")
        return args + list(self.pytest_args)

    def run(self) -> int:
        """Run pytest in this process; return 0 (all passed), 1 (a scenario failed) or 2 (the run failed)."""
        import pytest

        code = int(pytest.main(self.args()))
        if code == 5:
            raise HarnessError(f"no scenarios found in {', '.join(map(str, self.scenario_paths()))}: "
                               "scenario files end in .scenario.yaml")
        return harness_exit(code)
