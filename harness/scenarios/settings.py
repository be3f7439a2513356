"""The scenario front end's options (``HARNESS_APP``, ``HARNESS_SCENARIO_REPORT``): defined here
once, with defaults and docs, read like the core's (:class:`harness.settings.OptionSettings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.settings import Option, OptionSettings

OPTIONS: tuple[Option, ...] = (
    Option("app", "HARNESS_APP", "--harness-app", "",
           "app directory (conf snippets + lua/) that scenarios saying `fixture: app` run against; "
           "empty: the embedded sample app (the shipped fixture redis-counter)"),
    Option("scenario_report", "HARNESS_SCENARIO_REPORT", "--scenario-report", "",
           "write the HTML scenario report here (verdicts, error.log excerpts, worker tables, latency plots); "
           "empty: none (harness run writes reports/scenarios.html)"),
)


@dataclass(frozen=True)
class ScenarioSettings(OptionSettings):
    """Resolved scenario options. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    app: str
    scenario_report: str
