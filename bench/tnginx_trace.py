"""A pytest plugin for bench/tnginx_fixed_cost.py: wall-clock stamps of one ``harness t`` run's steps,
written as JSON to $HARNESS_BENCH_TRACE at the session's end and again at exit. Loaded by ``harness t
... --pytest=-p --pytest=tnginx_trace`` with this directory on PYTHONPATH; it changes nothing in the run.
In a ``harness serve`` (the module stays imported between runs) each run starts its stamps afresh when
pytest registers the plugin, and there is no exit stamp."""
from __future__ import annotations

import atexit
import json
import os
import time
from typing import Any

import pytest

STAMPS: dict[str, float] = {"plugin_loaded": time.time()}
BLOCKS: list[dict[str, Any]] = []  # per block: file, name, call seconds, outcome
REDIS_BLOCKS: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    if "configured" in STAMPS:  # a served run: the module was imported by an earlier one
        STAMPS.clear()
        BLOCKS.clear()
        REDIS_BLOCKS.clear()
        STAMPS["plugin_loaded"] = time.time()


def _stamp(name: str) -> None:
    STAMPS.setdefault(name, time.time())


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    _stamp("configured")


def pytest_collection_finish(session: pytest.Session) -> None:
    _stamp("collected")
    for item in session.items:
        fixture = getattr(getattr(item, "block", None), "fixture", None)
        if fixture is not None and any("${REDIS_" in text for text in fixture.snippets.values()):
            REDIS_BLOCKS.add(item.nodeid)  # blocks naming the shared Redis run one at a time


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _stamp("first_block_started")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _stamp("first_verdict")
        STAMPS["last_verdict"] = time.time()
        BLOCKS.append({"nodeid": report.nodeid, "seconds": report.duration, "outcome": report.outcome,
                       "redis": report.nodeid in REDIS_BLOCKS})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _stamp("finish_started")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _stamp("unconfigured")
    _write(exiting=False)


def _write(exiting: bool = True) -> None:
    if exiting:
        STAMPS["exit"] = time.time()
    out = os.environ.get("HARNESS_BENCH_TRACE")
    if out:
        with open(out, "w") as f:
            json.dump({"stamps": STAMPS, "blocks": BLOCKS}, f)


atexit.register(_write)
