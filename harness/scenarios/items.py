"""pytest collection of scenario files: each scenario in a ``*.scenario.yaml`` is an item of its own."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from harness.errors import HarnessError
from harness.prefetch import DEPTH
from harness.preflight.settings import PreflightSettings
from harness.pytest_stage import session_stage, settings_of
from harness.scenarios.loader import LoadedScenario, ScenarioSpecError, load_file
from harness.scenarios.runner import ScenarioResult, ScenarioRunner
from harness.scenarios.settings import ScenarioSettings

RESULTS = pytest.StashKey[list[ScenarioResult]]()
RESULT = pytest.StashKey[ScenarioResult]()
RUNNER = pytest.StashKey[ScenarioRunner]()
SETTINGS = pytest.StashKey[ScenarioSettings]()  # set by harness.scenarios.plugin


class ScenarioFailed(Exception):
    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.name)
        self.result = result


class ScenarioSpecFailure(Exception):
    pass


class ScenarioFile(pytest.File):
    """A YAML scenario file; a spec error becomes one failing item that names file and line."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            loaded = load_file(Path(self.path))
        except ScenarioSpecError as exc:
            yield BrokenScenarioItem.from_parent(self, name="spec", error=exc)
            return
        seen: dict[str, int] = {}
        for item in loaded:
            name = item.scenario.name
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name} [{seen[name]}]"
            yield ScenarioItem.from_parent(self, name=name, loaded=item)


class BrokenScenarioItem(pytest.Item):
    def __init__(self, *, error: ScenarioSpecError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise ScenarioSpecFailure(self.error.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> str:
        return f"scenario spec error: {self.error.message}"

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return Path(self.path), None, f"{Path(self.path).name}: spec error"


class ScenarioItem(pytest.Item):
    """Runs one scenario through :class:`ScenarioRunner` on the session's stage."""

    def __init__(self, *, loaded: LoadedScenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.add_marker(pytest.mark.integration)
        self.add_marker(pytest.mark.scenario)
        if loaded.scenario.catalogue:
            self.add_marker(pytest.mark.catalogue(*loaded.scenario.catalogue))
        self.user_properties.append(("scenario_source", f"{loaded.path}:{loaded.line}"))

    def runtest(self) -> None:
        runner = self.runner()
        if not hasattr(self.config, "workerinput"):  # under xdist the next item may be another worker's
            runner.plan_ahead(self.upcoming())
        result = runner.run(self.loaded)
        self.stash[RESULT] = result
        self.config.stash.setdefault(RESULTS, []).append(result)
        self.user_properties.append(("verdict", result.verdict))
        self.user_properties.append(("key_numbers", result.key_numbers()))
        if not result.passed:
            raise ScenarioFailed(result)

    def runner(self) -> ScenarioRunner:
        """The session's runner, on the session's stage."""
        runner = self.config.stash.get(RUNNER, None)
        if runner is None:
            stage = session_stage(self.config)
            given = self.config.stash[SETTINGS].app
            app = Path(given) if given else None
            runner = self.config.stash[RUNNER] = ScenarioRunner(stage, app=app,
                                                                http_timeout=stage.settings.http_timeout,
                                                                preflight=settings_of(self.config, PreflightSettings))
        return runner

    def upcoming(self, count: int = DEPTH) -> list[LoadedScenario]:
        """This scenario and the ``count`` this session runs next (as many as the prefetcher prepares)."""
        items = self.session.items
        index = items.index(self) if self in items else len(items)
        return [i.loaded for i in items[index:index + 1 + count] if isinstance(i, ScenarioItem)]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.result.format()
        if isinstance(excinfo.value, HarnessError):
            return f"harness error: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.loaded.path, self.loaded.line - 1, f"scenario: {self.loaded.scenario.name}"


def evidence_sections(result: ScenarioResult) -> list[tuple[str, str]]:
    """Report sections for a failed scenario: its error.log lines and the worker tables."""
    sections = []
    if result.error_log:
        sections.append(("error.log (this scenario)", result.error_log))
    if result.workers_before:
        sections.append(("workers at the start", result.workers_before))
    if result.workers_after:
        sections.append(("workers at the end", result.workers_after))
    return sections
