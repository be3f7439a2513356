"""nginx error.log: parsed entries, a per-test cursor, and assertions that need no fixed waits.

A negative check (``assert_not_logged``) first *settles*: the harness's control server waits until
every worker's heartbeat is newer than the check, which proves each worker finished what it was
doing before it (log phases included), then returns the log. That takes milliseconds, not a timeout.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional, Pattern, Union

from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    from harness.containers.openresty import OpenRestyContainer

LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")
SEVERE_LEVELS = ("crit", "alert", "emerg")
LUA_ERROR = re.compile(r"lua entry thread aborted|failed to run \w+_by_lua|runtime error: ")

Match = Union[str, Pattern[str]]

_HEAD = re.compile(r"^(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] (?P<pid>\d+)#(?P<tid>\d+): "
                   r"(?:\*(?P<conn>\d+) )?(?P<rest>.*)$")
_SUFFIX = re.compile(
    r"(?:,| while [^,]+,) client: (?P<client>[^,]+)"
    r"(?:, server: (?P<server>[^,]*))?"
    r"(?:, request: \"(?P<request>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, subrequest: \"(?:[^\"\\]|\\.)*\")?"
    r"(?:, upstream: \"(?P<upstream>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, host: \"(?P<host>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, referrer: \"(?:[^\"\\]|\\.)*\")?\s*$", re.DOTALL)


@dataclass(frozen=True)
class LogEntry:
    """One error.log entry; continuation lines (Lua tracebacks, multi-line messages) included."""

    offset: int  # byte offset of the entry in error.log
    time: str
    level: str
    pid: int
    tid: int
    connection: Optional[int]
    message: str  # the text without the client/server/request/... suffix
    client: Optional[str] = None
    server: Optional[str] = None
    request: Optional[str] = None
    upstream: Optional[str] = None
    host: Optional[str] = None
    text: str = ""  # the entry as written

    @property
    def is_lua_error(self) -> bool:
        return self.level in ("error", "crit", "alert", "emerg") and bool(LUA_ERROR.search(self.message))

    @property
    def is_problem(self) -> bool:
        """What fails a test unless declared expected: crit/alert/emerg, or a Lua runtime error."""
        return self.level in SEVERE_LEVELS or self.is_lua_error

    def at_least(self, level: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(level)

    def matches(self, pattern: Match) -> bool:
        """A ``str`` matches as a substring of the entry; a compiled regex by ``search``."""
        if isinstance(pattern, str):
            return pattern in self.text
        return bool(pattern.search(self.text))


def _entry(offset: int, lines: list[str]) -> LogEntry:
    text = "\n".join(lines)
    head = _HEAD.match(lines[0])
    assert head is not None
    rest = "\n".join([head.group("rest"), *lines[1:]])
    fields: dict[str, Optional[str]] = {}
    suffix = _SUFFIX.search(rest)
    if suffix:
        fields = {k: suffix.group(k) for k in ("client", "server", "request", "upstream", "host")}
        message = rest[:suffix.start()]
        if suffix.group(0).startswith(" while"):
            message += suffix.group(0).split(",", 1)[0]
    else:
        message = rest
    conn = head.group("conn")
    return LogEntry(offset=offset, time=head.group("time"), level=head.group("level"), pid=int(head.group("pid")),
                    tid=int(head.group("tid")), connection=int(conn) if conn else None, message=message,
                    text=text, **fields)


def parse_error_log(text: str, base_offset: int = 0) -> list[LogEntry]:
    """Parse error.log text; ``base_offset`` is where ``text`` starts in the file.

    Lines before the first entry header (a partial entry at the cursor) are dropped.
    """
    entries: list[LogEntry] = []
    current: list[str] = []
    current_offset = 0
    position = base_offset
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if _HEAD.match(stripped):
            if current:
                entries.append(_entry(current_offset, current))
            current, current_offset = [stripped], position
        elif current:
            current.append(stripped)
        position += len(line.encode())
    if current:
        entries.append(_entry(current_offset, current))
    return entries


def select(entries: Iterable[LogEntry], pattern: Optional[Match] = None,
           level: Optional[str] = None) -> list[LogEntry]:
    """Entries matching ``pattern`` (all if None) at exactly ``level`` (any if None)."""
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")
    return [e for e in entries if (level is None or e.level == level) and (pattern is None or e.matches(pattern))]


def excerpt(entries: Iterable[LogEntry], limit: int = 20) -> str:
    items = list(entries)
    shown = "\n".join(e.text for e in items[-limit:])
    more = f"\n... {len(items) - limit} earlier entries not shown" if len(items) > limit else ""
    return (shown + more) if items else "(no entries)"


@dataclass(frozen=True)
class LogRead:
    """A piece of error.log: its text, the byte offset it starts at, and the settle status: "yes",
    "no-heartbeat", "busy:<worker id>=<pid>,...", "unreachable" (read through the engine because
    the control server did not answer), "stopped" (the container is not running), or "" if not asked."""

    text: str
    start: int
    settled: str
    end: int = -1  # the byte offset where the read ended (-1: unknown; use start + the text's length)


class ErrorLogAssertionError(AssertionError):
    pass


class ErrorLog:
    """The error.log of one OpenResty container, from a cursor on (by default: where the test began)."""

    def __init__(self, container: "OpenRestyContainer", since: Optional[int] = None,
                 settle_timeout: float = 2.0) -> None:
        self.container = container
        self.since = container.log_mark if since is None else since
        self.settle_timeout = settle_timeout
        self.last_settle = ""

    def mark(self) -> int:
        """Move the cursor to the end: later checks see only what is written from now on."""
        self.since = self.container.error_log_size()
        return self.since

    def entries(self, settle: bool = False) -> list[LogEntry]:
        read = self.container.read_error_log(self.since, settle=self.settle_timeout if settle else None)
        self.last_settle = read.settled
        self.since = min(self.since, read.start)  # a rotated file is read from its start
        return parse_error_log(read.text, read.start)

    def grep(self, pattern: Optional[Match] = None, level: Optional[str] = None, settle: bool = True) -> list[LogEntry]:
        """Entries since the cursor matching ``pattern`` and ``level`` (Test::Nginx's grep_error_log)."""
        return select(self.entries(settle=settle), pattern, level)

    def count(self, pattern: Match, level: Optional[str] = None) -> int:
        return len(self.grep(pattern, level))

    def assert_logged(self, pattern: Match, level: Optional[str] = None, count: Optional[int] = None,
                      timeout: float = 5.0) -> list[LogEntry]:
        """Wait until ``pattern`` is logged (``count`` times exactly, if given); return the matches."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.grep(pattern, level, settle=True)
            if (count is None and found) or (count is not None and len(found) >= count):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if count is None and found or count is not None and len(found) == count:
            return found
        want = f"{count} time(s)" if count is not None else "at least once"
        lvl = f" at level {level}" if level else ""
        raise ErrorLogAssertionError(
            f"expected {pattern_text(pattern)}{lvl} in error.log {want}, found {len(found)} within {timeout:.1f}s\n"
            f"--- error.log since the cursor ({self.container.name}) ---\n{excerpt(self.entries())}")

    def assert_not_logged(self, pattern: Match, level: Optional[str] = None) -> None:
        """Fail if ``pattern`` was logged. Settles first, so late log-phase lines count."""
        found = self.grep(pattern, level, settle=True)
        if self.last_settle.startswith("busy") or self.last_settle == "unreachable":
            who = (f"workers {self.last_settle[5:]}" if self.last_settle.startswith("busy")
                   else "the control server (served by the workers)")
            raise HarnessError(f"cannot settle error.log of {self.container.name}: {who} did not get back to "
                               f"their event loop within {self.settle_timeout:.1f}s (blocked?)",
                               self.container.workers().format())
        if found:
            lvl = f" at level {level}" if level else ""
            raise ErrorLogAssertionError(
                f"did not expect {pattern_text(pattern)}{lvl} in error.log, found {len(found)}:\n{excerpt(found)}")

    def problems(self, allowed: Iterable[Match] = ()) -> list[LogEntry]:
        """crit/alert/emerg entries and Lua runtime errors, minus those matching ``allowed``."""
        allowed = list(allowed)
        return [e for e in self.entries(settle=True) if e.is_problem and not any(e.matches(a) for a in allowed)]


def pattern_text(pattern: Match) -> str:
    return repr(pattern) if isinstance(pattern, str) else f"/{pattern.pattern}/"
