"""The ``.t`` front end's pytest plugin (registered by :mod:`harness.pytest_plugin`): its options,
its marker, collection of the ``.t`` files below ``--harness-t-paths``, and its session end (the
lanes closed, the run-wide ``--harness-fault`` undone)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from harness.pytest_stage import add_options, settings_of
from harness.tnginx import items
from harness.tnginx.settings import TSettings


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, TSettings.OPTIONS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Optional[int]:
    """A pytest run of ``.t`` files only is handed to a running ``harness serve`` (HARNESS_SERVE=auto),
    as ``harness t`` hands its runs: its exit code, or None (this process runs it)."""
    from harness.serve.client import hand_over, pytest_servable
    from harness.warm import WARM

    if WARM.enabled or hasattr(config, "workerinput") or config.option.collectonly or \
            config.getoption("usepdb", False) or config.getoption("trace", False) or \
            config.getoption("numprocesses", None) or not pytest_servable(config.args):
        return None
    return hand_over([str(a) for a in config.invocation_params.args], program="pytest")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tnginx: a block of a Test::Nginx .t file (harness.tnginx)")
    config.stash[items.SETTINGS] = settings_of(config, TSettings)
    if config.getoption("harness_watch") == "on":  # given to pytest itself (the variable is harness t's)
        raise pytest.UsageError("--harness-t-watch: `harness t --watch PATHS` watches; pytest runs once")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """``*.t`` files below ``--harness-t-paths``: each Test::Nginx block is a test item."""
    t_paths = parent.config.stash[items.SETTINGS].t_paths
    if items.is_t_file(file_path, Path(str(parent.config.rootpath)), t_paths):
        items.read_ahead(parent.config).start(file_path)  # perl reads it while pytest finds the others
        return items.TFileCollector.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)  # before the core plugin closes the runtime
def pytest_sessionfinish(session: pytest.Session) -> None:
    items.close(session.config)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """Test::Nginx's server roots below ``t/`` (``t/servroot``, and ``t/servroot_PID`` of a suite that sets
    ``TEST_NGINX_SERVROOT`` per process: lua-resty-jwt's checkout had a hundred) hold no ``.t`` file of
    the suite: not walked."""
    if collection_path.name.startswith("servroot") and collection_path.parent.name == "t" and collection_path.is_dir():
        return True
    return None
