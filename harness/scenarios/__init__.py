"""YAML scenarios: the format (``spec``), reading files with line numbers (``loader``), running them on
a stage (``runner``) and collecting them as pytest items (``items``)."""
from harness.scenarios.loader import LoadedScenario, ScenarioSpecError, load_file
from harness.scenarios.runner import ScenarioResult, ScenarioRunner

__all__ = ["LoadedScenario", "ScenarioResult", "ScenarioRunner", "ScenarioSpecError", "load_file"]
