"""A block's view of error.log: the lines of this generation's workers and the master, without
the old generation's (workers still shutting down after a HUP) and without the harness's own
(the control server's requests, the heartbeat timer), so checks see what Test::Nginx would."""
from __future__ import annotations

import re
from typing import Iterable, Optional

from harness.tnginx.block import Pattern
from harness.tnginx.load import Regex

_HEAD = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] (\d+)#\d+: (?:\*(\d+) )?")
HARNESS_MARKS = ("/__harness/", "harness heartbeat", '"harness_control"')


def block_lines(text: str, pids: Optional[Iterable[int]]) -> list[str]:
    """The physical lines of ``text`` that belong to the block: entries from ``pids`` (None: any
    pid), minus the connections and lines the harness's own activity produced."""
    keep_pids = set(pids) if pids is not None else None
    entries: list[tuple[Optional[int], Optional[str], list[str]]] = []
    for line in text.split("\n"):
        head = _HEAD.match(line)
        if head:
            entries.append((int(head.group(1)), head.group(2), [line]))
        elif entries:
            entries[-1][2].append(line)
        elif line:
            entries.append((None, None, [line]))
    ours = {(pid, conn) for pid, conn, lines in entries
            if conn is not None and any(mark in ln for ln in lines for mark in HARNESS_MARKS)}
    out: list[str] = []
    for pid, conn, lines in entries:
        if keep_pids is not None and pid is not None and pid not in keep_pids:
            continue
        if conn is not None and (pid, conn) in ours:
            continue
        if conn is None and any(mark in ln for ln in lines for mark in HARNESS_MARKS):
            continue
        out += [ln for ln in lines if ln]
    return out


def matches(pattern: Pattern, line: str) -> Optional[str]:
    """The matched text when ``pattern`` (a substring or a qr//) matches ``line``."""
    if isinstance(pattern, Regex):
        m = pattern.compiled().search(line)
        return m.group(0) if m else None
    return pattern if pattern in line else None


def grep(pattern: Pattern, lines: list[str]) -> str:
    """What grep_error_log collects: each line's first match, one per line."""
    found = (matches(pattern, line) for line in lines)
    return "".join(f"{m}\n" for m in found if m is not None and "\n" not in m)
