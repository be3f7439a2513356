"""Shared helpers for the harness's own tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# the harness's own tests never hand their runs to a developer's `harness serve`; the serve tests start
# servers of their own on sockets of their own and say HARNESS_SERVE=auto to the runs they hand over
os.environ["HARNESS_SERVE"] = "off"

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "nginx-fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
