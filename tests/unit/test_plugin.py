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
    result.stdout.fnmatch_lines(["*--openresty-image*HARNESS_OPENRESTY_IMAGE*", "*--harness-reach*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["*@pytest.mark.integration*", "*@pytest.mark.openresty(fixture*"])


def test_tests_using_harness_fixtures_are_marked_integration(pytester):
    pytester.makepyfile(test_y=TEST + "\ndef test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-m", "not integration", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
