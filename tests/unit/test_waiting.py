import time

import pytest

from harness.errors import HarnessError, ReadinessTimeout
from harness.waiting import wait_for


def test_returns_first_truthy_observation():
    seen = iter([None, False, [], 0, {"ok": 1}])
    assert wait_for(lambda: next(seen), timeout=2, what="x", interval=0.001) == {"ok": 1}


def test_timeout_names_what_and_last_error():
    def probe():
        raise ConnectionRefusedError("nope")

    started = time.monotonic()
    with pytest.raises(ReadinessTimeout, match=r"waiting for the thing; last error: ConnectionRefusedError: nope"):
        wait_for(probe, timeout=0.2, what="the thing", interval=0.01)
    assert time.monotonic() - started < 1.5


def test_harness_errors_stop_the_wait_at_once():
    calls = []

    def probe():
        calls.append(1)
        raise HarnessError("container exited")

    with pytest.raises(HarnessError, match="container exited"):
        wait_for(probe, timeout=5, what="x")
    assert len(calls) == 1


def test_on_timeout_context_is_attached():
    with pytest.raises(ReadinessTimeout) as info:
        wait_for(lambda: None, timeout=0.05, what="x", on_timeout=lambda: "error.log tail")
    assert "error.log tail" in str(info.value)
