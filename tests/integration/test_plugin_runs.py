"""The plugin end to end in a child pytest: image override, failure report sections."""
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

FAILING = """
def test_fails(openresty):
    nginx = openresty.inline("location = /t { content_by_lua_block { ngx.log(ngx.ERR, 'marker-line-42') ngx.say('x') } }")
    with nginx.client() as client:
        client.get("/t")
    assert False, "on purpose"


def test_fails_with_a_topology(redis_replicated):
    assert False, "on purpose"
"""

PASSING = """
def test_ok(openresty):
    assert openresty("hello").resolved.source == "override"
"""


def test_failed_test_report_shows_its_error_log_and_worker_table(pytester, harness_stage):
    pytester.makepyfile(test_fails=FAILING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml",
                                           "--html=report.html", "--self-contained-html")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*error.log of harness-*-openresty-* (this test)*",
        "*[[]error[]]*marker-line-42*",
        "*workers of harness-*-openresty-* at hand-out*",
        "*workers of harness-*-openresty-* now*",
        "*master*nginx: master process*",
        "*worker*nginx: worker process*",
        "*redis_replicated when the test failed*",  # a Redis topology's roles and offsets
        "*: master, offset *",
        "*: replica of *(link up)*",
    ])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="harness: error.log of harness-' in junit and "marker-line-42" in junit
    assert 'name="harness: workers of harness-' in junit
    html = (pytester.path / "report.html").read_text()  # pytest-html shows the report sections
    assert "marker-line-42" in html and "workers of harness-" in html and "nginx: worker process" in html


def test_image_override_is_used_and_reported(pytester, harness_stage):
    tag = harness_stage.resolver.resolve("openresty").ref
    pytester.makepyfile(test_ok=PASSING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--openresty-image", tag,
                                           "--fixtures-dir", str(REPO / "nginx-fixtures"))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"harness openresty: nginx/*LuaJIT*{tag} (override*"])
