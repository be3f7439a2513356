"""The scenario front end's pytest plugin (registered by :mod:`harness.pytest_plugin`): its options,
its markers, collection of ``*.scenario.yaml`` files, the evidence of a failed scenario, the summary
table, and its session end (the runner closed, the HTML report written)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Generator, Optional

import pytest

from harness.pytest_stage import RUNTIME, add_options, settings_of
from harness.report.summary import summary_table
from harness.scenarios.items import RESULT, RESULTS, RUNNER, SETTINGS, ScenarioFile, evidence_sections
from harness.scenarios.loader import is_scenario_file
from harness.scenarios.settings import ScenarioSettings


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, ScenarioSettings.OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a YAML scenario (harness.scenarios)")
    config.addinivalue_line("markers", "catalogue(*entries): FAILURE-CATALOG entries a scenario covers")
    config.stash[SETTINGS] = settings_of(config, ScenarioSettings)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """``*.scenario.yaml`` files: each scenario in them is a test item."""
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A failed scenario's error.log lines and worker tables: report sections and JUnit properties."""
    report = yield
    result = item.stash.get(RESULT, None)
    if report.failed and result is not None and call.when == "call":
        report.sections.extend(evidence_sections(result))
        item.user_properties.extend((f"harness: {title}", text) for title, text in evidence_sections(result))
    return report


@pytest.hookimpl(tryfirst=True)  # before the core plugin closes the runtime
def pytest_sessionfinish(session: pytest.Session) -> None:
    runner = session.config.stash.get(RUNNER, None)
    if runner is not None:
        runner.close()
    results = session.config.stash.get(RESULTS, [])
    report = session.config.stash[SETTINGS].scenario_report
    if results and report and not hasattr(session.config, "workerinput"):
        from harness.report.html import write_html_report  # jinja2: loaded only when a report is due

        write_html_report(Path(report), results, session.config.stash[RUNTIME].record())


@pytest.hookimpl(trylast=True)  # after the core's matrix and coverage summaries
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, [])
    if results:
        terminalreporter.write_sep("=", f"scenarios: {sum(r.passed for r in results)}/{len(results)} passed")
        terminalreporter.write_line(summary_table(results))
