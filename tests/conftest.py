"""Shared helpers for the harness's own tests."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "nginx-fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
