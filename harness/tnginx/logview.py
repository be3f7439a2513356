"""A block's view of error.log: the lines of this generation's workers and the master, without
the old generation's (workers still shutting down after a HUP) and without the harness's own
(the control server's requests, the heartbeat timer), so checks see what Test::Nginx would."""
from __future__ import annotations

import re
from typing import Iterable, Optional

from harness.tnginx.block import Pattern
from harness.tnginx.load import Regex

_HEAD = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] (\d+)#\d+: (?:\*(\d+) )?")
HEARTBEAT = "harness heartbeat"
HARNESS_MARKS = ("/__harness/", HEARTBEAT, '"harness_control"')
PREVIOUS_SOCKET = ": deleting socket /harness/html/"  # a fresh nginx (Test::Nginx's) never logs it
Entry = tuple[Optional[int], Optional[str], list[str]]  # one log entry: (pid, connection, its physical lines)


class LogView:
    """A block's lines of error.log, window after window. It remembers the harness's own connections
    (a control request that reads the log goes on logging after the read: its later lines come in
    the next window without the request line that names it)."""

    def __init__(self, pids: Optional[Iterable[int]]) -> None:
        self.pids = set(pids) if pids is not None else None
        self.ours: set[tuple[Optional[int], str]] = set()

    def lines(self, text: str) -> list[str]:
        """The physical lines of ``text`` that belong to the block: entries from ``pids`` (None: any
        pid), minus the lines the harness's own activity produced."""
        entries: list[Entry] = []
        for line in text.split("\n"):
            head = _HEAD.match(line)
            if head:
                entries.append((int(head.group(1)), head.group(2), [line]))
            elif entries:
                entries[-1][2].append(line)
            elif line:
                entries.append((None, None, [line]))
        marked = any(mark in text for mark in HARNESS_MARKS)  # else no entry needs a look for them
        previous = PREVIOUS_SOCKET in text
        if marked:
            self.ours |= {(pid, conn) for pid, conn, lines in entries
                          if conn is not None and any(mark in ln for ln in lines for mark in HARNESS_MARKS)}
        out: list[Entry] = []
        for pid, conn, lines in entries:
            if self.pids is not None and pid is not None and pid not in self.pids:
                continue
            if conn is not None and (pid, conn) in self.ours:
                if marked and any(HEARTBEAT in ln for ln in lines):
                    _drop_timer_start(out, pid)
                continue
            if conn is None and marked and any(mark in ln for ln in lines for mark in HARNESS_MARKS):
                continue
            if conn is None and previous and any(PREVIOUS_SOCKET in ln for ln in lines):
                continue  # the switch closed the previous block's unix listener: not this block's line
            out.append((pid, conn, lines))
        return [ln for _, _, lines in out for ln in lines if ln]


def _drop_timer_start(out: list[Entry], pid: Optional[int]) -> None:
    """The heartbeat timer's lines before its fake connection exists, back to "lua ngx.timer expired"
    (a worker runs one thing at a time: what that pid logged in between is the timer's)."""
    for index in range(len(out) - 1, -1, -1):
        entry_pid, conn, lines = out[index]
        if entry_pid == pid and conn is None and any("lua ngx.timer expired" in ln for ln in lines):
            out[index:] = [e for e in out[index:] if not (e[0] == pid and e[1] is None)]
            return


def block_lines(text: str, pids: Optional[Iterable[int]]) -> list[str]:
    """One window's lines (see :class:`LogView`)."""
    return LogView(pids).lines(text)


def matches(pattern: Pattern, line: str) -> Optional[str]:
    """The matched text when ``pattern`` (a substring or a qr//) matches ``line``. As Test::Nginx reads
    error.log, the line ends with its newline, which a qr// may match (``[^,]*``, a trailing ``\\s+``)."""
    if isinstance(pattern, Regex):
        m = pattern.compiled().search(line + "\n")
        return m.group(0) if m else None
    return pattern if pattern in line else None


def grep(pattern: Pattern, lines: list[str]) -> str:
    """What grep_error_log collects: each line's first match, one per line (a match that took the
    line's newline is left out, as Test::Nginx leaves it out)."""
    found = (matches(pattern, line) for line in lines)
    return "".join(f"{m}\n" for m in found if m is not None and "\n" not in m)
