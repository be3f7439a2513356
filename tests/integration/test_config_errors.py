"""Invalid configuration is reported from nginx -t, at once, with the fixture's own file and line."""
import re

import pytest

from harness.errors import LuaSyntaxError, NginxConfigError, ReadinessTimeout

pytestmark = pytest.mark.integration


def test_broken_fixture_fails_with_nginx_t_output_not_a_timeout(openresty, fixtures_dir):
    with pytest.raises(NginxConfigError) as info:
        openresty("broken-duplicate-dict", reuse=False)
    assert not isinstance(info.value, ReadinessTimeout)
    message = info.value.message
    # lua-nginx-module says 'lua_shared_dict "cache" is already defined'; some articles quote
    # '"lua_shared_dict" directive is duplicate'. Either names the directive and the fixture line.
    assert re.search(r'lua_shared_dict("? directive is duplicate| "cache" is already defined)', message), message
    assert f"{fixtures_dir.resolve()}/broken-duplicate-dict/http.conf:4" in message
    assert "test failed" in info.value.detail


def test_healthy_twin_of_the_broken_fixture_starts(openresty):
    nginx = openresty.inline("location = / { return 204; }", http_config="lua_shared_dict cache 1m;")
    with nginx.client() as client:
        assert client.get("/").status_code == 204


def test_bad_config_on_reload_keeps_the_old_workers_serving(openresty):
    nginx = openresty("hello", workers=1)
    before = nginx.generation
    with pytest.raises(NginxConfigError, match="already defined.*old configuration keeps serving"):
        nginx.switch(nginx.fixture.__class__.load("broken-duplicate-dict", nginx_search_path(openresty)))
    assert nginx.generation == before
    with nginx.client() as client:
        assert client.get("/").text.startswith("hello from worker")


def test_duplicate_directive_in_a_fixture_is_reported_with_its_line(openresty):
    with pytest.raises(NginxConfigError, match=r'"lua_package_path" directive is duplicate in <inline>/http.conf:2'):
        openresty.inline("return 204;", http_config='lua_package_path "/a/?.lua;;";\nlua_package_path "/b/?.lua;;";',
                         reuse=False)


@pytest.mark.allow_log_problems("attempt to index local 't'")
def test_lua_runtime_error_is_a_500_and_logged(openresty):
    nginx = openresty.inline("location = /boom { content_by_lua_block { local t = nil; ngx.say(t.x) } }")
    with nginx.client() as client:
        assert client.get("/boom").status_code == 500
    assert "attempt to index local 't' (a nil value)" in nginx.error_log()


def nginx_search_path(factory):
    return factory.stage.search_path


def test_lua_syntax_error_is_found_before_start_with_file_and_line(openresty, fixtures_dir):
    with pytest.raises(LuaSyntaxError) as info:
        openresty("broken-lua-syntax", reuse=False)
    message = info.value.message
    assert message.startswith("Lua syntax error in fixture 'broken-lua-syntax': ")
    assert f"{fixtures_dir.resolve()}/broken-lua-syntax/lua/greeting.lua:5: 'then' expected" in message
    assert "\n" not in message


def test_lua_syntax_error_on_reload_keeps_the_old_workers(openresty, harness_stage):
    nginx = openresty("hello")
    with pytest.raises(LuaSyntaxError, match="greeting.lua:5: 'then' expected.*old configuration keeps serving"):
        nginx.switch(harness_stage.fixture("broken-lua-syntax"))
    with nginx.client() as client:
        assert client.get("/").text.startswith("hello from worker")
