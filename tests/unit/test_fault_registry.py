"""The fault registry (no Docker): each fault by name, its parameters checked, held on what it needs
(a one-line error naming how to provide it), the text form of `harness t --harness-fault`."""
import contextlib

import pytest

from harness.errors import HarnessError
from harness.faults.registry import FAULTS, FaultSpec, Targets, hold
from harness.scenarios.loader import load_file
from harness.resources import shipped


class FakeRoute:
    def __init__(self, log):
        self.log = log

    @contextlib.contextmanager
    def latency(self, ms, jitter, stream):
        self.log.append(("latency", ms, jitter, stream))
        yield
        self.log.append("undone")


class FakeProxy:
    def __init__(self):
        self.log = []

    def route(self, name):
        self.log.append(("route", name))
        return FakeRoute(self.log)


def test_a_fault_is_applied_on_entry_and_undone_on_exit():
    proxy = FakeProxy()
    with FaultSpec(kind="proxy.latency", ms=300, route="upstream").hold(Targets(proxy=proxy)):
        assert proxy.log == [("route", "upstream"), ("latency", 300, 0, "downstream")]
    assert proxy.log[-1] == "undone"


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_every_fault_names_what_it_needs_when_it_is_missing(kind):
    fault = FAULTS[kind]
    params = {name: {"address": "10.0.0.1", "signal": "HUP", "key": "k"}.get(name, 1) for name in fault.required}
    with pytest.raises(HarnessError, match=f"fault {kind} needs "):
        FaultSpec(kind=kind, **params).hold(Targets())


def test_required_parameters_and_unknown_faults_are_one_line_errors():
    with pytest.raises(ValueError, match="fault redis.slow needs 'ms'"):
        FaultSpec(kind="redis.slow")
    with pytest.raises(ValueError, match="unknown fault 'redis.latency'"):
        FaultSpec(kind="redis.latency")
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        FaultSpec(kind="redis.refusing", millis=3)


def test_the_text_form():
    spec = FaultSpec.parse("proxy.bandwidth: rate=64, stream=upstream")
    assert spec is not None and (spec.kind, spec.rate, spec.stream) == ("proxy.bandwidth", 64, "upstream")
    assert FaultSpec.parse("  ") is None
    with pytest.raises(HarnessError, match="'ms' is not PARAM=VALUE"):
        FaultSpec.parse("proxy.latency:ms")


def test_hold_asks_the_session_for_the_service_the_fault_needs():
    asked = []
    with pytest.raises(HarnessError, match="needs the session's Redis"):
        hold(FaultSpec(kind="redis.refusing"), lambda name: asked.append(name))
    assert asked == ["redis"]


def test_every_fault_of_the_shipped_catalogue_is_in_the_registry():
    kinds = {f.kind for path in sorted(shipped("harness.catalogue").glob("*.scenario.yaml"))
             for loaded in load_file(path) for step in loaded.scenario.steps for f in step.fault}
    assert kinds and kinds <= set(FAULTS)
