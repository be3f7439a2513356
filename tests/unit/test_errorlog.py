"""The parser on real nginx 1.22 / lua-nginx-module 0.10.23 output (tests/unit/data/error.log.sample)."""
import re
from pathlib import Path

import pytest

from harness.errorlog import LEVELS, ErrorLog, ErrorLogAssertionError, LogRead, excerpt, parse_error_log, select

SAMPLE = (Path(__file__).parent / "data" / "error.log.sample").read_text()


@pytest.fixture(scope="module")
def entries():
    return parse_error_log(SAMPLE)


def test_every_entry_starts_at_a_header_and_offsets_point_at_it(entries):
    raw = SAMPLE.encode()
    for e in entries:
        assert raw[e.offset:].decode().startswith(e.time)
    assert len(entries) == SAMPLE.count("\n2026/") + 1


def test_fields_of_a_lua_log_line(entries):
    warn = next(e for e in entries if "a warning" in e.message)
    assert (warn.level, warn.pid, warn.tid, warn.connection) == ("warn", 9, 9, 3)
    assert warn.message == "[lua] server.conf:3):2: a warning"
    assert warn.client == "192.168.80.1" and warn.server == "localhost"
    assert warn.request == "GET /levels?a=1 HTTP/1.1"
    assert warn.host == "192.168.80.2:8080"
    assert warn.upstream is None


def test_traceback_lines_belong_to_their_entry(entries):
    boom = next(e for e in entries if "attempt to index local 't'" in e.message)
    assert boom.is_lua_error and boom.is_problem
    assert "stack traceback:" in boom.message and "in main chunk" in boom.message
    assert boom.request == "GET /boom?a=1 HTTP/1.1"
    assert boom.text.count("\n") == 3


def test_module_not_found_keeps_the_searched_paths(entries):
    mod = next(e for e in entries if "module 'no_such_module' not found" in e.message)
    assert "no file '/harness/gen/1/fixture/lua/no_such_module.lua'" in mod.message
    assert mod.request == "GET /mod?a=1 HTTP/1.1"


def test_log_phase_error_with_while_logging_request(entries):
    e = next(e for e in entries if "log phase failed" in e.message)
    assert e.message.startswith("failed to run log_by_lua*")
    assert e.message.endswith("while logging request")
    assert e.is_lua_error and e.client == "192.168.80.1"


def test_upstream_field(entries):
    e = next(e for e in entries if "Connection refused" in e.message)
    assert e.upstream == "http://127.0.0.1:1/x?a=1"
    assert e.message.endswith("while connecting to upstream")
    assert not e.is_problem


def test_multi_line_message_without_traceback(entries):
    e = next(e for e in entries if e.message.startswith("[lua] server.conf:3):6: multi"))
    assert e.message.endswith("multi\nline message") and e.request == "GET /levels?a=1 HTTP/1.1"


def test_every_level_and_entries_without_connection(entries):
    levels = {e.level for e in entries}
    assert levels == set(LEVELS)
    master = next(e for e in entries if "exited on signal 9" in e.message)
    assert (master.level, master.pid, master.connection, master.client) == ("alert", 1, None, None)
    timer = next(e for e in entries if "timer message" in e.message)
    assert timer.connection is None and timer.level == "error" and not timer.is_problem


def test_problems_are_severe_levels_and_lua_errors(entries):
    problems = [e for e in entries if e.is_problem]
    assert {e.level for e in problems} == {"error", "crit", "alert", "emerg"}
    assert all(e.is_lua_error for e in problems if e.level == "error")


def test_select_by_substring_regex_and_level(entries):
    assert len(select(entries, "a warning")) == 1
    assert len(select(entries, re.compile(r"attempt to index local '\w'"))) == 2
    assert [e.level for e in select(entries, level="crit")] == ["crit"]
    with pytest.raises(ValueError, match="unknown level 'fatal'"):
        select(entries, level="fatal")


def test_partial_line_before_the_cursor_is_dropped_and_offsets_shift():
    tail = SAMPLE[SAMPLE.index("in main chunk"):]
    base = len(SAMPLE[:SAMPLE.index("in main chunk")].encode())
    parsed = parse_error_log(tail, base)
    assert parsed[0].offset == SAMPLE.encode().index(parsed[0].text.splitlines()[0].encode())


def test_excerpt_limits_and_says_how_many_were_left_out(entries):
    text = excerpt(entries, limit=2)
    assert text.endswith(f"... {len(entries) - 2} earlier entries not shown")
    assert excerpt([]) == "(no entries)"


class GrowingLog:
    """A LogSource whose error.log is a string the test appends to."""

    name = "fake"

    def __init__(self) -> None:
        self.text = ""

    def read_error_log(self, since: int = 0, settle=None) -> LogRead:
        return LogRead(self.text.encode()[since:].decode(), since, "yes" if settle is not None else "")

    def error_log_size(self) -> int:
        return len(self.text.encode())

    def workers(self, interval=None):
        raise AssertionError("not needed")


def test_mark_moves_the_cursor_later_checks_read_from():
    source = GrowingLog()
    source.text = "2024/01/01 00:00:00 [error] 7#7: *1 boom before\n"
    log = ErrorLog(source)
    assert log.count("boom") == 1
    log.mark()
    log.assert_not_logged("boom")
    source.text += "2024/01/01 00:00:01 [error] 7#7: *2 boom after\n"
    assert [e.message for e in log.grep("boom")] == ["boom after"]
    with pytest.raises(ErrorLogAssertionError):
        log.assert_not_logged("boom")
