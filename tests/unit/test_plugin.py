"""The plugin as users get it: loaded by its pytest11 entry point, in a separate pytest process."""
import pytest

TEST = """
def test_needs_openresty(openresty):
    openresty("hello")
"""


@pytest.fixture
def no_engine(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    pytester.makepyfile(test_x=TEST)
    return pytester


def test_without_engine_integration_test_is_skipped_with_the_fix(no_engine, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = no_engine.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*No Docker engine answers at unix://*absent.sock*make setup*"])


def test_without_engine_under_ci_the_test_fails_never_skips(no_engine, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = no_engine.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*No Docker engine answers*(CI=true: integration tests never skip)*"])


def test_options_and_markers_are_registered(pytester):
    result = pytester.runpytest_subprocess("--help")
    for line in ("*--openresty-image*HARNESS_OPENRESTY_IMAGE*", "*--harness-reach*", "*--harness-app*HARNESS_APP*",
                 "*--harness-t-lanes*HARNESS_T_LANES*"):  # the core's options and the front ends'
        result.stdout.fnmatch_lines([line])
    markers = pytester.runpytest_subprocess("--markers")
    for line in ("*@pytest.mark.integration*", "*@pytest.mark.openresty(fixture*", "*@pytest.mark.scenario*",
                 "*@pytest.mark.tnginx*"):
        markers.stdout.fnmatch_lines([line])


@pytest.mark.parametrize("variable, value, expected", [
    ("HARNESS_REACH", "sideways", "HARNESS_REACH/--harness-reach='sideways': choose one of auto, direct, published"),
    ("HARNESS_CHECK_LEAK", "maybe", "HARNESS_CHECK_LEAK/--harness-check-leak='maybe': choose one of off, on"),
])
def test_a_bad_option_value_is_one_usage_line_from_core_and_front_end_alike(pytester, monkeypatch, variable, value,
                                                                          expected):
    monkeypatch.setenv(variable, value)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_front_end_plugin_can_be_left_out(pytester):
    """Each front end is a plugin of its own: without it, its files are not collected."""
    pytester.makefile(".scenario.yaml", x="name: x\nsteps: []\n")
    with_it = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    with_it.stdout.fnmatch_lines(["*x.scenario.yaml::*"])
    without = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider",
                                            "-p", "no:harness.scenarios.plugin")
    assert "x.scenario.yaml" not in without.stdout.str()


def test_tests_using_harness_fixtures_are_marked_integration(pytester):
    pytester.makepyfile(test_y=TEST + "\ndef test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-m", "not integration", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
