"""The summary table printed after a scenario run: scenario, verdict, key numbers."""
from __future__ import annotations

import io
from typing import Sequence

from rich.console import Console
from rich.table import Table

from harness.scenarios.runner import ScenarioResult

VERDICT_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta"}


def summary_table(results: Sequence[ScenarioResult], width: int = 140) -> str:
    """The table as plain text (no colour codes unless ``FORCE_COLOR`` asks for them)."""
    table = Table(show_lines=False, expand=False)
    table.add_column("scenario", overflow="fold", max_width=58)
    table.add_column("cat.", justify="right")
    table.add_column("verdict")
    table.add_column("s", justify="right")
    table.add_column("key numbers", overflow="fold")
    for r in results:
        name = r.name + (" (faulty on purpose)" if r.faulty else "")
        table.add_row(name, ",".join(map(str, r.catalogue)), f"[{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]",
                      f"{r.seconds:.1f}", r.error or r.key_numbers())
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue().rstrip("\n")
