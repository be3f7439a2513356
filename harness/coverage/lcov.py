"""LCOV tracefiles (``lcov.info``), the format CI services and ``genhtml`` read: per file ``SF:``,
``DA:LINE,COUNT`` for every line that is code, ``LF``/``LH`` totals, ``end_of_record``."""
from __future__ import annotations

from harness.coverage.model import CoverageResult


def lcov_text(result: CoverageResult, test_name: str = "") -> str:
    out: list[str] = []
    for f in sorted(result.files, key=lambda f: f.path):
        out.append(f"TN:{test_name}")
        out.append(f"SF:{f.path}")
        out += [f"DA:{line},{f.counts.get(line, 0)}" for line in sorted(f.executable)]
        out += [f"LF:{f.found}", f"LH:{f.hit}", "end_of_record"]
    return "\n".join(out) + ("\n" if out else "")


def parse_lcov(text: str) -> dict[str, dict[int, int]]:
    """The ``DA`` records of a tracefile, per ``SF`` (for checks of what was written)."""
    out: dict[str, dict[int, int]] = {}
    current: dict[int, int] = {}
    for raw in text.splitlines():
        if raw.startswith("SF:"):
            current = out.setdefault(raw[3:], {})
        elif raw.startswith("DA:"):
            line, count = raw[3:].split(",")[:2]
            current[int(line)] = int(count)
    return out
