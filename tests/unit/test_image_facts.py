"""Parsing an OpenResty image's probe, and the side-by-side table with the official image's versions."""
import datetime
from pathlib import Path

import pytest

from harness.images import offline
from harness.images.components import BY_NAME, COMPONENTS, MODULES, OFFICIAL_TAG, dotted_version
from harness.images.facts import (MARK, PROMISE_BROKEN, ImageFacts, compare, luajit_text, openresty_probe,
                                  parse_openresty_probe, properties)
from harness.images.profiles import OFFICIAL_OPENRESTY, OPENRESTY_PROFILES, TRIXIE_OPENRESTY
from harness.images.resolver import OFFICIAL

TRIXIE_PROBE = (Path(__file__).parent / "data" / "probe-trixie.txt").read_text()  # the trixie twin's real output


def facts(profile: str, components: dict, kind: str = "openresty", version: str = "nginx version: nginx/1.26.3"):
    return ImageFacts(kind=kind, ref="x:1", id="sha256:" + "d" * 64, source="offline build", profile=profile,
                      note="", version=version, components=components)


def test_the_trixie_twin_probe_finds_every_promise_with_versions():
    got = parse_openresty_probe(TRIXIE_PROBE)
    assert set(got) == {c.name for c in COMPONENTS}
    assert facts("trixie", got).missing(TRIXIE_OPENRESTY.promises) == []
    versions = {n: got[n]["version"] for n in ("nginx", "lua-nginx-module", "luajit", "lua-resty-core",
                                              "lua-resty-dns", "echo-nginx-module", "stream")}
    assert versions == {"nginx": "1.26.3", "lua-nginx-module": "0.10.28", "luajit": "2.1-20250117",
                        "lua-resty-core": "0.1.31", "lua-resty-dns": "0.20", "echo-nginx-module": "0.63",
                        "stream": "1.26.3"}
    # the package's release, and what the library itself says when that differs
    assert got["lua-resty-lrucache"]["version"] == "0.15" and "reports 0.14" in got["lua-resty-lrucache"]["detail"]
    assert got["lua-resty-lock"] == {"present": False, "version": "",
                                     "detail": "resty.lock: module 'resty.lock' not found"}
    assert got["ngx_stream_lua"]["detail"] == '"content_by_lua_block" directive is not allowed here'
    assert got["redis2-nginx-module"]["detail"] == 'unknown directive "redis2_query"'


def official_style_probe() -> str:
    added = " ".join(f"--add-module=../{c.configure}-{c.official}" for c in MODULES if c.configure not in ("", "-"))
    released = int(datetime.datetime(2026, 4, 15, 8, tzinfo=datetime.timezone.utc).timestamp())
    lua = ["ngx_lua\t10031", "nginx\t1031001", f"jit\tLuaJIT 2.1.{released}"]
    lua += [f"lib\t{c.name}\tok\t{c.official}" for c in COMPONENTS if c.lua]
    sections = {"nginx-V": f"nginx version: openresty/1.31.1.1\nconfigure arguments: --prefix=/usr/local/openresty "
                           f"--add-module=../ngx_lua-0.10.31rc5 {added} --with-stream",
                "luajit": "LuaJIT 2.1.x", "dpkg": "", "lua": "\n".join(lua) + "\n@@exit 0"}
    sections.update({f"module {c.name}": "syntax is ok\n@@exit 0" for c in MODULES if c.directive})
    return "\n".join(f"{MARK} {name}\n{text}" for name, text in sections.items())


def test_an_official_image_reads_as_the_recorded_versions():
    got = parse_openresty_probe(official_style_probe())
    rows = compare({"openresty": facts("official", got, version="nginx version: openresty/1.31.1.1")})
    assert [r for r in rows if r.verdict not in ("same", "present")] == []
    assert got["echo-nginx-module"]["version"] == "0.64"  # from nginx -V's --add-module path
    assert got["luajit"]["version"] == "2.1-20260415"


def test_compare_marks_a_broken_promise_apart_from_what_the_twin_never_had():
    got = parse_openresty_probe(TRIXIE_PROBE)
    got["echo-nginx-module"] = {"present": False, "version": "", "detail": 'unknown directive "echo"'}
    rows = {r.component: r for r in compare({"openresty": facts("trixie", got)})}
    assert rows["echo-nginx-module"].verdict == PROMISE_BROKEN
    assert rows["lua-resty-lock"].cells() == ("lua-resty-lock", "0.09", "missing", "missing")
    assert rows["lua-resty-websocket"].verdict == "same"
    assert (rows["lua-nginx-module"].official, rows["lua-nginx-module"].actual) == ("0.10.31rc5", "0.10.28")


def test_compare_puts_redis_and_python_beside_the_official_tags():
    rows = {r.component: r for r in compare({
        "redis": facts("trixie", {}, "redis", "Redis server v=8.0.2 sha=00000000:0 malloc=jemalloc-5.3.0"),
        "tools": facts("trixie", {}, "tools", "Python 3.13.5")})}
    assert rows["redis-server"].cells() == ("redis-server", "8.10.2", "8.0.2", "differs")
    assert rows["python3"].cells() == ("python3", "3.13", "3.13.5", "same")


def test_properties_carry_each_component():
    props = properties("openresty", facts("trixie", parse_openresty_probe(TRIXIE_PROBE)))
    assert props["harness.openresty.component.lua-nginx-module"] == "0.10.28"
    assert props["harness.openresty.component.lua-resty-lock"] == "missing"
    assert props["harness.openresty.profile"] == "trixie"
    assert props["harness.openresty.version"] == "nginx version: nginx/1.26.3"


def test_summary_names_ngx_lua():
    f = facts("trixie", parse_openresty_probe(TRIXIE_PROBE))
    assert f.summary().startswith("nginx/1.26.3, ngx_lua 0.10.28 -- x:1 (offline build, profile trixie")


def test_the_probe_loads_the_profiles_modules_and_tests_each_directive():
    script = openresty_probe(TRIXIE_OPENRESTY)
    assert script.count(" -t 2>&1") == sum(1 for c in MODULES if c.directive)
    assert "load_module /usr/lib/nginx/modules/ndk_http_module.so;" in script
    assert "load_module" not in openresty_probe(OFFICIAL_OPENRESTY)


@pytest.mark.parametrize("reported, text", [("LuaJIT 2.1.1737090214", "2.1-20250117"),
                                            ("LuaJIT 2.1.0-beta3", "2.1.0-beta3")])
def test_luajit_versions_read_as_openresty_tags(reported, text):
    assert luajit_text(reported) == text


def test_recorded_official_data_matches_the_pin_and_every_promise_is_a_component():
    assert OFFICIAL["openresty"] == OFFICIAL_TAG
    assert dotted_version(10028) == "0.10.28"
    for profile in OPENRESTY_PROFILES.values():
        assert set(profile.promises) <= set(BY_NAME), profile.name
    assert set(OPENRESTY_PROFILES) - {"official"} == set(offline.RELEASES)
