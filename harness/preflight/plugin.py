"""The preflight's pytest plugin (registered by :mod:`harness.pytest_plugin`): its options
(``--preflight-*``, ``HARNESS_PREFLIGHT_*``) and the ``preflight`` fixture."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from harness.preflight import Preflight, PreflightOptions, PreflightReport
from harness.preflight.settings import PreflightSettings
from harness.pytest_stage import add_options, settings_of
from harness.stage import Stage


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, PreflightSettings.OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    settings_of(config, PreflightSettings)  # a bad value is a usage error at once


@pytest.fixture
def preflight(harness_stage: Stage, pytestconfig: pytest.Config) -> Callable[..., PreflightReport]:
    """``preflight("app-dir-or-fixture", workers="auto", cpus=2, memory="128m", nofile=1024, paths=["/x"],
    image="")`` runs the preflight checks and returns a :class:`harness.preflight.PreflightReport`
    (unset options: ``--preflight-*`` / ``HARNESS_PREFLIGHT_*``)."""
    settings = settings_of(pytestconfig, PreflightSettings)

    def run(app: Any, image: str = "", **options: Any) -> PreflightReport:
        return Preflight(harness_stage, PreflightOptions.resolve(settings, **options), image).run(app)
    return run
