"""``harness perf``'s pytest plugin (registered by :mod:`harness.pytest_plugin`): its option
(``--perf-tolerance``, ``HARNESS_PERF_TOLERANCE``), accepted on pytest's command line as before
the option moved out of the core; ``harness perf compare`` reads it."""
from __future__ import annotations

import pytest

from harness.perf.settings import PerfSettings
from harness.pytest_stage import add_options, settings_of


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, PerfSettings.OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    settings_of(config, PerfSettings)  # a bad value is a usage error at once, as for every option
