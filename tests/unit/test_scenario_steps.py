"""A scenario step's traffic is one of the kinds in steps.TRAFFIC, found from the step's fields."""
from __future__ import annotations

from typing import get_args

import pytest

from harness.scenarios.spec import Step
from harness.scenarios.steps import TRAFFIC, TrafficKind, traffic_kind


@pytest.mark.parametrize("fields, kind", [
    ({"request": "GET /"}, "sequence"),
    ({"request": "GET /", "repeat": 3}, "sequence"),
    ({"requests": ["GET /a", "GET /b"]}, "sequence"),
    ({"request": "GET /", "concurrent": 5}, "concurrent"),
    ({"pipelined": ["GET /a", "GET /b"]}, "pipelined"),
    ({"raw": "GET / HTTP/1.0\r\n\r\n"}, "raw"),
    ({"load": {"users": 2, "duration": 1}}, "load"),
    ({"leak": {"path": "/"}}, "leak"),
    ({}, None),
])
def test_each_step_has_the_kind_its_fields_say(fields, kind):
    assert traffic_kind(Step.model_validate(fields)) == kind


def test_every_kind_of_traffic_has_its_function():
    assert set(TRAFFIC) == set(get_args(TrafficKind))
