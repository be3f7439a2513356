import pytest

from harness.errors import ConfigTemplateError, FixtureNotFound
from harness.images.profiles import BOOKWORM_OPENRESTY, OFFICIAL_OPENRESTY, TRIXIE_OPENRESTY
from harness.nginx_conf import (ERROR_LOG, Fixture, RenderOptions, fill_placeholders, host_paths,
                                render_nginx_conf, write_bundle)


def test_load_by_name_from_search_path(fixtures_dir):
    fx = Fixture.load("redis-counter", [fixtures_dir])
    assert fx.name == "redis-counter"
    assert "server.conf" in fx.snippets
    assert "lua/counter.lua" in fx.files
    assert fx.source == (fixtures_dir / "redis-counter").resolve()


def test_missing_fixture_says_where_it_looked_and_the_fix(tmp_path):
    with pytest.raises(FixtureNotFound) as info:
        Fixture.load("no-such-app", [tmp_path])
    assert str(tmp_path) in info.value.message
    assert "nginx-fixtures/no-such-app/server.conf" in info.value.message
    assert "\n" not in info.value.message


def test_directory_without_config_is_rejected(tmp_path):
    (tmp_path / "lua").mkdir()
    with pytest.raises(FixtureNotFound, match="neither http.conf nor server.conf"):
        Fixture.load(tmp_path)


def test_placeholders_are_filled_and_nginx_variables_left_alone():
    text = "proxy_pass http://${REDIS_HOST}:${REDIS_PORT};\nset $x ${host};\nreturn 200 $remote_addr;\n"
    out = fill_placeholders(text, {"REDIS_HOST": "10.0.0.2", "REDIS_PORT": "6379"}, "server.conf")
    assert out == "proxy_pass http://10.0.0.2:6379;\nset $x ${host};\nreturn 200 $remote_addr;\n"


def test_unknown_placeholder_names_file_line_and_known_ones():
    with pytest.raises(ConfigTemplateError, match=r"server.conf:2: unknown placeholder \$\{UPSTREAM\}.*REDIS_HOST"):
        fill_placeholders("# x\nproxy_pass http://${UPSTREAM};", {"REDIS_HOST": "a"}, "server.conf")


@pytest.mark.parametrize("profile", [TRIXIE_OPENRESTY, BOOKWORM_OPENRESTY], ids=lambda p: p.name)
def test_debian_profiles_load_modules_ndk_first_and_official_does_not(profile):
    fx = Fixture.inline(config="return 204;")
    debian = render_nginx_conf(fx, profile, 1)
    official = render_nginx_conf(fx, OFFICIAL_OPENRESTY, 1)
    assert "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;" in debian
    loads = [line for line in debian.splitlines() if line.startswith("load_module")]
    assert "ndk_http_module" in loads[0] and debian.index(loads[-1]) < debian.index("events")
    assert "load_module" not in official
    assert "/usr/local/openresty/lualib/?.lua" in official


def test_render_sets_harness_paths_env_workers_and_fixture_lua_first():
    fx = Fixture.inline(config="return 204;", http_config="lua_shared_dict d 1m;", main_config="pcre_jit on;",
                        lua={"m.lua": "return {}"})
    conf = render_nginx_conf(fx, TRIXIE_OPENRESTY, 3, RenderOptions(workers=2, env_names=("REDIS_HOST",)))
    assert "worker_processes 2;" in conf
    assert f"error_log {ERROR_LOG} info;" in conf
    assert "env REDIS_HOST;" in conf
    assert "include /harness/gen/3/fixture/main.conf;" in conf
    assert "include /harness/gen/3/fixture/http.conf;" in conf
    assert "include /harness/gen/3/fixture/server.conf;" in conf
    assert 'lua_package_path "/harness/gen/3/fixture/lua/?.lua;' in conf
    assert "listen 9901;" in conf and "listen 8080 default_server;" in conf


def test_snippets_absent_are_not_included():
    conf = render_nginx_conf(Fixture.inline(config="return 204;"), TRIXIE_OPENRESTY, 1)
    assert "main.conf" not in conf and "http.conf" not in conf


def test_bundle_tree_is_world_readable_and_filled(tmp_path, fixtures_dir):
    fx = Fixture.load("redis-counter", [fixtures_dir])
    root = write_bundle(tmp_path, fx, TRIXIE_OPENRESTY, 2, RenderOptions(placeholders={}))
    assert (root / "gen/2/nginx.conf").is_file()
    assert (root / "gen/2/fixture/lua/counter.lua").read_bytes() == fx.files["lua/counter.lua"]
    assert (root / "bin/activate").stat().st_mode & 0o777 == 0o755
    assert (root / "gen/2/fixture/server.conf").stat().st_mode & 0o777 == 0o644
    assert (root / "logs").is_dir() and (root / "tmp").is_dir()
    script = (root / "bin/activate").read_text()
    assert "/usr/sbin/nginx -p /harness/ -c /harness/conf/nginx.conf -t" in script
    assert "exit 78" in script


def test_container_paths_in_messages_become_host_paths(fixtures_dir):
    fx = Fixture.load("broken-duplicate-dict", [fixtures_dir])
    msg = 'nginx: [emerg] "lua_shared_dict" directive is duplicate in /harness/gen/1/fixture/http.conf:4'
    assert host_paths(msg, fx, 1).endswith(f"{fixtures_dir.resolve()}/broken-duplicate-dict/http.conf:4")
    assert host_paths(msg, Fixture.inline(name="t", config="x"), 1).endswith("<t>/http.conf:4")


def test_digest_changes_with_content():
    a = Fixture.inline(config="return 204;")
    b = Fixture.inline(config="return 200;")
    assert a.digest() != b.digest() and a.digest() == Fixture.inline(config="return 204;").digest()


def test_fixture_with_its_own_lua_path_keeps_it_and_can_name_its_dir(tmp_path):
    fx = Fixture.inline(config="return 204;", http_config='lua_package_path "${FIXTURE_DIR}/lua/?.lua;;";')
    conf = render_nginx_conf(fx, TRIXIE_OPENRESTY, 1)
    assert "lua_package_path" not in conf and "lua_package_cpath" in conf
    root = write_bundle(tmp_path, fx, TRIXIE_OPENRESTY, 5)
    assert (root / "gen/5/fixture/http.conf").read_text() == 'lua_package_path "/harness/gen/5/fixture/lua/?.lua;;";'


def test_a_fixture_with_its_own_temp_path_replaces_ours_and_keeps_the_others():
    """nginx refuses a second proxy_temp_path in http{} (a Test::Nginx block's http_config may set one)."""
    own = Fixture.inline(config="return 204;", http_config="proxy_temp_path /tmp/mine;")
    conf = render_nginx_conf(own, TRIXIE_OPENRESTY, 1)
    assert "proxy_temp_path" not in conf and "client_body_temp_path" in conf and "fastcgi_temp_path" in conf  # its own: in http.conf
    plain = render_nginx_conf(Fixture.inline(config="return 204;"), TRIXIE_OPENRESTY, 1)
    assert all(f"{kind}_temp_path" in plain for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def test_healthy_twin_adds_a_snippet_and_keeps_the_rest(fixtures_dir):
    faulty = Fixture.load("missing-shared-dict", [fixtures_dir])
    healthy = faulty.with_snippets(http_conf="lua_shared_dict result_dict 1m;")
    assert "http.conf" not in faulty.snippets
    assert healthy.snippets["http.conf"] == "lua_shared_dict result_dict 1m;"
    assert healthy.snippets["server.conf"] == faulty.snippets["server.conf"] and healthy.files == faulty.files
