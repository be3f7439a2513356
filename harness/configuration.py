"""Every option of the harness, the core's and each front end's and feature's, for the generated
table (``harness options``, docs/configuration.md) and the commands' help."""
from __future__ import annotations

from harness.perf.settings import PerfSettings
from harness.preflight.settings import PreflightSettings
from harness.scenarios.settings import ScenarioSettings
from harness.serve.settings import ServeSettings
from harness.settings import Option, OptionSettings, Settings, options_markdown as table_of
from harness.tnginx.settings import TSettings

SETTINGS: tuple[type[OptionSettings], ...] = (Settings, PerfSettings, PreflightSettings, ScenarioSettings, TSettings, ServeSettings)
ALL_OPTIONS: tuple[Option, ...] = tuple(opt for cls in SETTINGS for opt in cls.OPTIONS)
OPTION: dict[str, Option] = {opt.name: opt for opt in ALL_OPTIONS}


def options_markdown() -> str:
    """The configuration table of every option as Markdown (for docs/configuration.md)."""
    return table_of(ALL_OPTIONS)
