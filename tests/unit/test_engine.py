import time

import pytest

from harness.engine import Engine
from harness.errors import EngineUnavailable


def test_absent_engine_is_one_line_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    started = time.monotonic()
    with pytest.raises(EngineUnavailable) as info:
        Engine.connect()
    assert time.monotonic() - started < 5
    message = info.value.message
    assert "\n" not in message
    assert f"unix://{tmp_path}/no.sock" in message and "make setup" in message and "DOCKER_HOST" in message
