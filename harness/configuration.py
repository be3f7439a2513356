"""Every option of the harness, the core's and each front end's, for the generated table
(``harness options``, docs/configuration.md) and the commands' help."""
from __future__ import annotations

from harness import settings
from harness.scenarios import settings as scenario_settings
from harness.settings import Option
from harness.tnginx import settings as t_settings

ALL_OPTIONS: tuple[Option, ...] = (*settings.OPTIONS, *scenario_settings.OPTIONS, *t_settings.OPTIONS)
OPTION: dict[str, Option] = {opt.name: opt for opt in ALL_OPTIONS}


def options_markdown() -> str:
    """The configuration table of every option as Markdown (for docs/configuration.md)."""
    return settings.options_markdown(ALL_OPTIONS)
