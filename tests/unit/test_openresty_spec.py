"""OpenRestySpec: one value for every front end, validated, frozen, with the pool's shape."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from harness.errors import HarnessError
from harness.nginx_conf import Fixture
from harness.openresty_spec import Limits, OpenRestyOptions, OpenRestySpec
from harness.perf.compare import COMPARED, Limits as CompareLimits, Variant, spec_of
from harness.scenarios.spec import Options, Scenario
from harness.settings import Settings
from harness.stage import Stage

HELLO = Fixture.inline("hello", config="location / { return 200; }")


def offline_stage() -> Stage:
    """A Stage that never talks to an engine (nothing here starts a container)."""
    engine = SimpleNamespace(client=None, is_local=True)
    return Stage(engine, Settings.from_sources({"reach": "direct"}, environ={}))


def test_keywords_become_a_validated_frozen_spec():
    spec = OpenRestySpec.of(HELLO, workers=2, env={"N": 3}, ports=[8099], memory="64m")
    assert (spec.workers, spec.env, spec.ports, spec.limits) == (2, {"N": "3"}, (8099,), Limits("64m", None, None))
    with pytest.raises(ValidationError):
        spec.workers = 3  # frozen


def test_a_wrong_option_is_one_line_naming_the_options():
    with pytest.raises(HarnessError) as info:
        OpenRestySpec.of(HELLO, worker=2)
    assert "\n" not in info.value.message and "worker" in info.value.message and "error_log_level" in info.value.message
    with pytest.raises(HarnessError, match="error_log_level"):
        OpenRestySpec.of(HELLO, error_log_level="loud")


def test_shape_is_what_a_hup_reload_cannot_change():
    a = OpenRestySpec.of(HELLO, workers=2)
    other_fixture = OpenRestySpec.of(Fixture.inline("other", config="return 204;"), workers=2)
    assert a.shape("img", {"REDIS_HOST": "r"}) == other_fixture.shape("img", {"REDIS_HOST": "r"})
    # the rendered config says how many workers and which log level: a HUP changes both
    assert a.shape("img", {}) == a.with_options(workers=1, error_log_level="debug").shape("img", {})
    assert a.shape("img", {}) != a.shape("img", {"REDIS_HOST": "r"})
    assert a.shape("img", {}) != a.with_options(init=True).shape("img", {})
    assert a.shape("img", {}) != a.shape("other-image", {})
    mounted = a.with_options(mounts=[("/srv/suite", "/srv/suite")], workdir="/srv/suite")
    assert mounted.mounts == (("/srv/suite", "/srv/suite"),) and mounted.shape("img", {}) != a.shape("img", {})


def test_yaml_options_are_the_python_options_with_init_and_image():
    scenario = Scenario.model_validate({"name": "s", "options": {"workers": "auto", "init": True, "image": "me/or:1"},
                                        "steps": [{"request": "GET /"}]})
    assert isinstance(scenario.options, OpenRestyOptions)
    assert OpenRestySpec.of(HELLO, **scenario.options.options()).init is True
    assert set(Options.model_fields) == set(OpenRestyOptions.model_fields)


def test_stage_front_ends_build_the_same_spec():
    stage = offline_stage()
    from_keywords = stage.spec(HELLO, workers=2, reuse=False)
    assert from_keywords == OpenRestySpec.of(HELLO, workers=2, reuse=False)
    assert stage.spec(from_keywords) is from_keywords
    assert stage.spec(from_keywords, workers=3).workers == 3
    assert stage.spec("hello").fixture.name == "hello"  # looked up on the fixture search path


def test_perf_variants_become_fresh_specs_with_the_comparison_limits():
    stage = offline_stage()
    spec = spec_of(stage, Variant(str(HELLO.name), image="me/or:2", env={"BUSY": "1"}), CompareLimits.of(workers=2))
    assert (spec.workers, spec.cpus, spec.memory, spec.image, spec.env, spec.reuse) == (
        2, COMPARED.cpus, COMPARED.memory, "me/or:2", {"BUSY": "1"}, False)
    assert CompareLimits.from_json(CompareLimits.of(cpus=2.0, redis=True).to_json()) == CompareLimits.of(cpus=2.0,
                                                                                                       redis=True)
