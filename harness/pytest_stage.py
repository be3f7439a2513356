"""The pytest run's :class:`~harness.runtime.HarnessRuntime` (in the config's stash) and its stage,
for the plugin's fixtures and the scenario items alike."""
from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.runtime import HarnessRuntime
from harness.stage import Stage

RUNTIME = pytest.StashKey[HarnessRuntime]()


def session_stage(config: pytest.Config) -> Stage:
    """The session's :class:`harness.stage.Stage`. Without an engine: skip, or fail when ``CI=true``."""
    runtime = config.stash[RUNTIME]
    try:
        stage = runtime.stage()
        runtime.probe_images()
        return stage
    except HarnessError as exc:
        if runtime.settings.ci:
            pytest.fail(f"{exc.message} (CI=true: integration tests never skip)", pytrace=False)
        pytest.skip(exc.message)
