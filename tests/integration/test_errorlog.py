"""ErrorLog assertions on a real OpenResty: each passing, and failing on purpose."""
import re
import time

import pytest

from harness.errorlog import ErrorLogAssertionError

pytestmark = pytest.mark.integration


@pytest.fixture
def nginx(openresty):
    return openresty("log-phase", workers=2)


def test_a_log_phase_line_written_after_the_response_is_seen_at_once(nginx):
    with nginx.client() as client:
        assert client.get("/late", params={"ms": 300}).text == "sent\n"
    found = nginx.log.grep("late line from the log phase", level="warn")  # settles: no sleep, no retry
    assert len(found) == 1 and found[0].request == "GET /late?ms=300 HTTP/1.1"


def test_assert_not_logged_waits_for_the_log_phase_and_then_fails(nginx):
    with nginx.client() as client:
        client.get("/late", params={"ms": 300})
    with pytest.raises(ErrorLogAssertionError, match=r"did not expect 'late line' in error.log, found 1"):
        nginx.log.assert_not_logged("late line")


def test_assert_not_logged_passes_quickly_when_nothing_was_logged(nginx):
    with nginx.client() as client:
        client.get("/quiet")
    started = time.perf_counter()
    nginx.log.assert_not_logged(re.compile(r"\[(error|warn)\]"))
    assert time.perf_counter() - started < 1.0  # settling takes milliseconds, not a timeout


def test_cursor_hides_earlier_lines(nginx):
    with nginx.client() as client:
        client.get("/late")
        log = nginx.log
        assert log.count("late line") == 1
        log.mark()
        assert log.count("late line") == 0
        client.get("/late")
        log.assert_logged("late line", level="warn", count=1)


def test_nginx_log_is_one_cursor_for_the_whole_hand_out(nginx):
    """``nginx.log.mark()`` moves the cursor that the next ``nginx.log`` check reads from."""
    with nginx.client() as client:
        client.get("/late")
    nginx.log.assert_logged("late line")
    nginx.log.mark()
    nginx.log.assert_not_logged("late line")  # would fail if each nginx.log were a new cursor
    assert nginx.log is nginx.log


def test_assert_logged_fails_with_an_excerpt(nginx):
    with nginx.client() as client:
        client.get("/late")
    with pytest.raises(ErrorLogAssertionError) as info:
        nginx.log.assert_logged("never written", timeout=0.3)
    assert "expected 'never written' in error.log at least once, found 0" in str(info.value)
    assert "late line from the log phase" in str(info.value)  # the excerpt of what was logged


def test_count_mismatch_fails(nginx):
    with nginx.client() as client:
        client.get("/late")
        client.get("/late")
    with pytest.raises(ErrorLogAssertionError, match=r"3 time\(s\), found 2"):
        nginx.log.assert_logged("late line", count=3, timeout=0.3)
    nginx.log.assert_logged("late line", count=2)
