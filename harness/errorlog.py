"""nginx error.log: parsed entries, a per-test cursor, and assertions that need no fixed waits.

A negative check (``assert_not_logged``) first *settles*: the harness's control server waits until
every worker's heartbeat is newer than the check, which proves each worker finished what it was
doing before it (log phases included), then returns the log. That takes milliseconds, not a timeout.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Literal, Optional, Pattern, Protocol, Union, get_args

from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    from harness.workers import WorkerTable

LogLevel = Literal["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"]
LEVELS: tuple[str, ...] = get_args(LogLevel)
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
    the control server did not answer), "stopped" (the container is not running), or "" if not asked.
    ``hidden``: what in it the harness itself caused (see :class:`HarnessLines`)."""

    text: str
    start: int
    settled: str
    end: int = -1  # the byte offset where the read ended (-1: unknown; use start + the text's length)
    hidden: Optional["HarnessLines"] = None

    def entries(self) -> list[LogEntry]:
        """The parsed entries, without those the harness caused."""
        entries = parse_error_log(self.text, self.start)
        return self.hidden.without(entries) if self.hidden is not None else entries


_RETIRED = re.compile(r"signal 17 \(SIGCHLD\) received from (\d+)|worker process (\d+) exited with code 0")


@dataclass(frozen=True)
class HarnessLines:
    """Entries a container's master wrote because of the harness, not of the test: its rejection of
    a reload (the switch raised with nginx -t's output instead), and its notices that workers the
    harness retired by a switch have exited (written up to 100 ms after the switch returned)."""

    rejected: tuple[tuple[int, int, int], ...] = ()  # (from byte, to byte, master pid)
    retired: frozenset[tuple[int, int]] = frozenset()  # (master pid, worker pid)

    def hides(self, entry: LogEntry) -> bool:
        if any(a <= entry.offset < b and entry.pid == pid for a, b, pid in self.rejected):
            return True
        found = _RETIRED.search(entry.message)
        if found:
            return (entry.pid, int(found.group(1) or found.group(2))) in self.retired
        # the master's channel to an exiting worker closes: a SIGIO notice, nothing else in it
        return entry.message == "signal 29 (SIGIO) received" and any(entry.pid == m for m, _ in self.retired)

    def without(self, entries: list[LogEntry]) -> list[LogEntry]:
        return [e for e in entries if not self.hides(e)]


class ErrorLogAssertionError(AssertionError):
    pass


class LogSource(Protocol):
    """What :class:`ErrorLog` reads through: an OpenResty container (its control channel, with the
    engine as the fallback), or anything else that can serve error.log."""

    @property
    def name(self) -> str: ...

    def read_error_log(self, since: int = 0, settle: Optional[float] = None) -> LogRead: ...

    def error_log_size(self) -> int: ...

    def workers(self, interval: Optional[float] = None) -> "WorkerTable": ...


class ErrorLog:
    """The error.log of one OpenResty container from a cursor on. An OpenResty container holds one
    per hand-out (``nginx.log``, its cursor where the test got the container), so
    ``nginx.log.mark()`` then ``nginx.log.assert_not_logged(...)`` sees only what came after the mark."""

    def __init__(self, container: LogSource, since: Optional[int] = None, settle_timeout: float = 2.0) -> None:
        self.container = container
        # None: from where the container was handed out (an OpenResty's ``handed_out_at``), else the start
        self.since = getattr(container, "handed_out_at", 0) if since is None else since
        self.settle_timeout = settle_timeout
        self.last_settle = ""

    def mark(self) -> int:
        """Move the cursor to the end: later checks see only what is written from now on."""
        self.since = self.container.error_log_size()
        return self.since

    def read(self, settle: bool = False) -> LogRead:
        """What was written since the cursor (``settle``: after the workers settled)."""
        read = self.container.read_error_log(self.since, settle=self.settle_timeout if settle else None)
        self.last_settle = read.settled
        self.since = min(self.since, read.start)  # a rotated file is read from its start
        return read

    def text(self, settle: bool = True) -> str:
        return self.read(settle).text

    def entries(self, settle: bool = False) -> list[LogEntry]:
        return self.read(settle).entries()

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
            entries = self.entries(settle=True)
            found = select(entries, pattern, level)
            if enough(found, count) or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if logged_as_expected(found, count):
            return found
        raise ErrorLogAssertionError(missing_message(pattern, level, count, len(found), timeout, self.container.name,
                                                     entries))

    def assert_not_logged(self, pattern: Match, level: Optional[str] = None) -> None:
        """Fail if ``pattern`` was logged. Settles first, so late log-phase lines count."""
        found = self.grep(pattern, level, settle=True)
        trouble = unsettled_message(self.container.name, self.last_settle, self.settle_timeout)
        if trouble:
            raise HarnessError(trouble, self.container.workers().format())
        if found:
            raise ErrorLogAssertionError(unexpected_message(pattern, level, found))

    def problems(self, allowed: Iterable[Match] = ()) -> list[LogEntry]:
        """crit/alert/emerg entries and Lua runtime errors, minus those matching ``allowed``."""
        return problems_in(self.entries(settle=True), allowed)


def problems_in(entries: Iterable[LogEntry], allowed: Iterable[Match] = ()) -> list[LogEntry]:
    """The problem entries (see :attr:`LogEntry.is_problem`) not matching any of ``allowed``."""
    allowed = list(allowed)
    return [e for e in entries if e.is_problem and not any(e.matches(a) for a in allowed)]


def pattern_text(pattern: Match) -> str:
    return repr(pattern) if isinstance(pattern, str) else f"/{pattern.pattern}/"


def enough(found: list[LogEntry], count: Optional[int]) -> bool:
    """Whether waiting for more matches is over: any (``count`` None), or ``count`` of them."""
    return bool(found) if count is None else len(found) >= count


def logged_as_expected(found: list[LogEntry], count: Optional[int]) -> bool:
    """At least once (``count`` None), or exactly ``count`` times."""
    return bool(found) if count is None else len(found) == count


def missing_message(pattern: Match, level: Optional[str], count: Optional[int], found: int, timeout: float,
                    name: str, entries: list[LogEntry]) -> str:
    """Why an expected line is not there: the first line says so, the rest is what was logged."""
    want = f"{count} time(s)" if count is not None else "at least once"
    lvl = f" at level {level}" if level else ""
    return (f"expected {pattern_text(pattern)}{lvl} in error.log {want}, found {found} within {timeout:.1f}s\n"
            f"--- error.log since the cursor ({name}) ---\n{excerpt(entries)}")


def unexpected_message(pattern: Match, level: Optional[str], found: list[LogEntry]) -> str:
    lvl = f" at level {level}" if level else ""
    return f"did not expect {pattern_text(pattern)}{lvl} in error.log, found {len(found)}:\n{excerpt(found)}"


def unsettled_message(name: str, settled: str, timeout: float) -> Optional[str]:
    """Why a read with settle status ``settled`` cannot back a negative check (None: it can)."""
    if not (settled.startswith("busy") or settled == "unreachable"):
        return None
    who = f"workers {settled[5:]}" if settled.startswith("busy") else "the control server (served by the workers)"
    return (f"cannot settle error.log of {name}: {who} did not get back to their event loop within "
            f"{timeout:.1f}s (blocked?)")
