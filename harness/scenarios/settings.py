"""The scenario front end's options (``HARNESS_APP``, ``HARNESS_SCENARIO_REPORT``): defined here
once, with defaults and docs, read like the core's (:func:`harness.settings.read_options`)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional

from harness.settings import Option, read_options

OPTIONS: tuple[Option, ...] = (
    Option("app", "HARNESS_APP", "--harness-app", "",
           "app directory (conf snippets + lua/) that scenarios saying `fixture: app` run against; "
           "empty: the embedded sample app (the shipped fixture redis-counter)"),
    Option("scenario_report", "HARNESS_SCENARIO_REPORT", "--scenario-report", "",
           "write the HTML scenario report here (verdicts, error.log excerpts, worker tables, latency plots); "
           "empty: none (harness run writes reports/scenarios.html)"),
)


@dataclass(frozen=True)
class ScenarioSettings:
    """Resolved scenario options. Build with :meth:`from_sources` (the defaults are the options')."""

    app: str
    scenario_report: str

    @classmethod
    def from_sources(cls, cli: Optional[Mapping[str, Any]] = None,
                     environ: Optional[Mapping[str, str]] = None) -> "ScenarioSettings":
        """Merge pytest option values (``cli``, keyed by attribute name), environment, defaults."""
        return cls(**read_options(OPTIONS, {f.name: f.type for f in fields(cls)}, cli, environ))
