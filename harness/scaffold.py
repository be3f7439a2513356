"""``harness init``: a new project's files (an app, a pytest test, a scenario, a CI file), from the
template shipped in ``harness/templates/``. It never overwrites: one existing file stops it before
anything is written."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness import __version__
from harness.errors import HarnessError
from harness.resources import shipped

CiKind = Literal["github", "gitlab", "none"]
CI_FILES: dict[str, tuple[str, str]] = {  # kind -> (template, where it goes in the project)
    "github": ("github-actions.yml", ".github/workflows/openresty-harness.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
}
VERSION_TOKEN = "__HARNESS_VERSION__"
IMAGE_TOKENS = {"__PYTEST_IMAGES__": "--openresty-image", "__RUN_IMAGES__": "--image"}  # per matrix image
COVERAGE_TOKEN = "__HARNESS_COVERAGE__"  # the tests' command line: the coverage flag, or nothing
COVERAGE_NOTE_TOKEN = "__HARNESS_COVERAGE_NOTE__"
COVERAGE_NOTES = {
    True: "Lua line coverage of app/lua (reports/coverage/lcov.info and index.html); "
          "--harness-coverage-min N fails the job below N %",
    False: "Lua line coverage of app/lua: add --harness-coverage (or `harness init --coverage`); "
           "reports in reports/coverage/",
}


@dataclass(frozen=True)
class Scaffold:
    """The files ``harness init`` writes into ``target``: ``app/`` (server.conf, lua/), ``tests/``,
    ``scenarios/`` and a CI file for ``ci``; with ``matrix`` images its tests and scenarios run on
    each of them (a compatibility matrix)."""

    target: Path
    ci: CiKind = "github"
    coverage: bool = False  # the CI file's tests run with --harness-coverage
    matrix: tuple[str, ...] = ()

    def files(self) -> dict[Path, str]:
        """Destination path -> text."""
        project = shipped("harness", "templates", "project")
        out = {self.target / p.relative_to(project): p.read_text()
               for p in sorted(project.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}
        if self.ci != "none":
            template, dest = CI_FILES[self.ci]
            text = shipped("harness", "templates", "ci", template).read_text()
            text = (text.replace(VERSION_TOKEN, __version__)
                    .replace(COVERAGE_TOKEN, " --harness-coverage" if self.coverage else "")
                    .replace(COVERAGE_NOTE_TOKEN, COVERAGE_NOTES[self.coverage]))
            for token, flag in IMAGE_TOKENS.items():
                text = text.replace(token, "".join(f" {flag} {image}" for image in self.matrix))
            matrix_junit = ", reports/matrix/matrix.xml, reports/matrix.xml" if self.matrix else ""
            out[self.target / dest] = text.replace("__MATRIX_JUNIT__", matrix_junit)
        return out

    def write(self) -> list[Path]:
        """Write every file, or none if one of them exists already; return what was written."""
        files = self.files()
        if not files:
            raise HarnessError("init: the project template is missing from the installed package: "
                               "reinstall openresty-harness")
        existing = [path for path in files if path.exists()]
        if existing:
            raise HarnessError(f"init would overwrite {existing[0]} ({len(existing)} of its {len(files)} files "
                               "exist; nothing was written): move it away or run `harness init NEW-DIR`")
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return list(files)
