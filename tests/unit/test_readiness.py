"""GenerationReady, the readiness strategy of OpenResty containers, against a fake container."""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, NoReturn, Optional

import httpx
import pytest

from harness.containers.readiness import GenerationReady
from harness.errors import HarnessError, ReadinessTimeout


class FakeChannel:
    """Answers from a script: each entry a generation number, None (an error status) or an exception."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def url(self, path: str) -> str:
        return f"http://10.0.0.2:8081{path}"

    def answer(self, kind: str) -> Optional[dict[str, Any]]:
        self.asked.append(kind)
        step = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(step, Exception):
            raise step
        return None if step is None else {"generation": step, "asked": kind}

    def status(self, timeout: float = 2.0) -> Optional[dict[str, Any]]:
        return self.answer("status")

    def generation(self, timeout: float = 2.0) -> Optional[dict[str, Any]]:
        return self.answer("generation")


class FakeContainer:
    def __init__(self, answers: list[Any], quiet: bool = False, status: str = "running",
                 reach: str = "direct") -> None:
        self.name = "harness-openresty-x"
        self.reach = SimpleNamespace(mode=reach)
        self.channel = FakeChannel(answers)
        self.quiet = quiet
        self.status = status
        self.state_calls: list[float] = []

    def is_quiet(self) -> bool:
        return self.quiet

    def state(self) -> dict[str, Any]:
        self.state_calls.append(time.monotonic())
        return {"Status": self.status, "ExitCode": 1}

    def raise_exited(self, state: dict[str, Any]) -> NoReturn:
        raise HarnessError(f"{self.name} exited with code {state['ExitCode']} before it was ready")

    def logs_text(self) -> str:
        return "nginx: [emerg] something\n" * 30

    def error_log_tail(self, lines: int = 20) -> str:
        return "--- last 20 lines of error.log ---\n[error] boom"


REFUSED = httpx.ConnectError("refused")


def test_ready_when_the_awaited_generation_answers():
    box = FakeContainer([REFUSED, 1, None, 2])
    assert GenerationReady().wait(box, 2, timeout=5, starting=False) == {"generation": 2, "asked": "status"}
    assert box.state_calls == []  # a switch never asks the engine


def test_a_quiet_start_asks_only_for_the_generation_and_a_switch_for_the_status():
    quiet = FakeContainer([1], quiet=True)
    GenerationReady().wait(quiet, 1, timeout=5, starting=True)
    assert quiet.channel.asked == ["generation"]  # no Lua of ours in the fixture's workers
    switched = FakeContainer([2], quiet=True)
    GenerationReady().wait(switched, 2, timeout=5, starting=False)
    loud = FakeContainer([1], quiet=False)
    GenerationReady().wait(loud, 1, timeout=5, starting=True)
    assert switched.channel.asked == loud.channel.asked == ["status"]


def test_a_container_that_exits_while_starting_is_reported_at_once():
    box = FakeContainer([REFUSED], status="exited")
    started = time.monotonic()
    with pytest.raises(HarnessError, match="exited with code 1 before it was ready") as caught:
        GenerationReady().wait(box, 1, timeout=10, starting=True)
    assert not isinstance(caught.value, ReadinessTimeout)
    assert time.monotonic() - started < 1


def test_the_engine_is_asked_at_most_every_50_ms():
    box = FakeContainer([REFUSED])
    with pytest.raises(ReadinessTimeout):
        GenerationReady().wait(box, 1, timeout=0.4, starting=True)
    gaps = [b - a for a, b in zip(box.state_calls, box.state_calls[1:])]
    assert len(box.state_calls) >= 2 and min(gaps) >= 0.05
    assert len(box.channel.asked) > len(box.state_calls)  # probed more often than the engine is asked


def test_the_timeout_explains_with_the_hint_the_error_log_and_the_container_output():
    box = FakeContainer([1])  # an old generation keeps answering
    with pytest.raises(ReadinessTimeout) as caught:
        GenerationReady().wait(box, 2, timeout=0.2, starting=False)
    message, detail = caught.value.message, caught.value.detail
    assert "harness-openresty-x to serve config generation 2 at http://10.0.0.2:8081/" in message
    assert "stuck in init_worker_by_lua" in message and "HARNESS_START_TIMEOUT" in message
    assert "try HARNESS_REACH=published" in detail
    assert "[error] boom" in detail
    assert detail.count("[emerg] something") == 20  # the last 20 lines of the container output
    published = FakeContainer([1], reach="published")
    with pytest.raises(ReadinessTimeout) as caught:
        GenerationReady().wait(published, 2, timeout=0.1, starting=False)
    assert "HARNESS_REACH" not in caught.value.detail
