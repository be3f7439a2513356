"""After every test, [crit]/[alert]/[emerg] and Lua runtime errors fail it unless declared expected."""
import pytest

pytestmark = pytest.mark.integration

TESTS = """
import pytest

BOOM = "location = /boom { content_by_lua_block { local t = nil; ngx.say(t.x) } }"
CRIT = "location = /crit { content_by_lua_block { ngx.log(ngx.CRIT, 'disk on fire') ngx.say('ok') } }"

def test_runtime_error_fails_the_test(openresty):
    with openresty.inline(BOOM).client() as c:
        assert c.get("/boom").status_code == 500

def test_crit_fails_the_test(openresty):
    with openresty.inline(CRIT).client() as c:
        assert c.get("/crit").status_code == 200

@pytest.mark.allow_log_problems("attempt to index local 't'")
def test_declared_runtime_error_passes(openresty):
    with openresty.inline(BOOM).client() as c:
        assert c.get("/boom").status_code == 500

@pytest.mark.allow_log_problems("something else")
def test_other_declaration_does_not_cover_it(openresty):
    with openresty.inline(CRIT).client() as c:
        c.get("/crit")

@pytest.mark.allow_log_problems
def test_bare_marker_allows_all(openresty):
    with openresty.inline(CRIT).client() as c:
        c.get("/crit")
"""


def test_log_problems_fail_tests_unless_declared(pytester, harness_stage):
    pytester.makepyfile(test_problems=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rE")
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_runtime_error_fails_the_test*",
        "*lua entry thread aborted: runtime error*attempt to index local 't'*",
        "*ERROR at teardown of test_crit_fails_the_test*",
        "*[[]crit[]]*disk on fire*",
        "*ERROR at teardown of test_other_declaration_does_not_cover_it*",
    ])
    assert "test_declared_runtime_error_passes" not in "\n".join(l for l in result.outlines if "ERROR at" in l)
