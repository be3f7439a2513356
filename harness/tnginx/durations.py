"""How long a `.t` block is expected to take, so the long ones start first
(:mod:`harness.tnginx.schedule`): what it took in the last run that ran it (kept in the reports
directory, ``.t-durations.json``, by node id), else what its sections say it waits for
(``--- wait``, ``ngx.sleep`` with a number, a client timeout it expects), times its repetitions."""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from harness.tnginx.block import TBlock

log = logging.getLogger(__name__)
FILE_NAME = ".t-durations.json"
SLEEP = re.compile(r"ngx\.sleep\(\s*([0-9]*\.?[0-9]+)\s*\)")


def from_sections(block: "TBlock", repeats: int = 1) -> float:
    """Seconds ``block`` waits by what its sections say, over its ``repeats`` repetitions (a guess:
    sleeps in loops or timers count once)."""
    text = "".join(block.fixture.snippets.values())
    sleeps = sum(float(m.group(1)) for m in SLEEP.finditer(text))
    per_repetition = block.wait + sleeps + (block.timeout if block.abort else 0.0)
    return max(1, repeats) * per_repetition


class Durations:
    """Blocks' run times of earlier runs by node id (``get``), and this run's (``record``, then
    ``save``: merged into the file, which other runs may write too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.known: dict[str, float] = self._read()
        self.new: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def get(self, nodeid: str) -> Optional[float]:
        return self.known.get(nodeid)

    def record(self, nodeid: str, seconds: float) -> None:
        with self.lock:
            self.new[nodeid] = round(seconds, 3)

    def save(self) -> None:
        """Write this run's times over the file's (a failure to write costs only the order)."""
        with self.lock:
            if not self.new:
                return
            merged = {**self._read(), **self.new}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}")
            partial.write_text(json.dumps(merged, indent=0, sort_keys=True))
            os.replace(partial, self.path)
        except OSError as exc:
            log.debug("block durations not kept: %s", exc)
