"""YAML scenarios: the format (``spec``), reading files with line numbers (``loader``), running them on
a stage (``runner``) and collecting them as pytest items (``items``). The names below are imported on
first use, so a run that reads only this package's settings (``harness t``) does not load the format."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenarios.loader import LoadedScenario, ScenarioSpecError, load_file
    from harness.scenarios.runner import ScenarioResult, ScenarioRunner

__all__ = ["LoadedScenario", "ScenarioResult", "ScenarioRunner", "ScenarioSpecError", "load_file"]
WHERE = {"LoadedScenario": "loader", "ScenarioSpecError": "loader", "load_file": "loader",
         "ScenarioResult": "runner", "ScenarioRunner": "runner"}


def __getattr__(name: str) -> Any:
    if name not in WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.scenarios.{WHERE[name]}"), name)
