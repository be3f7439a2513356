"""The OpenResty image's parts: the version it reports, every library and module its profile promises,
and an OpenResty config that uses the bundled modules running unchanged."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.images.components import BY_NAME, dotted_version
from harness.images.profiles import openresty_profile
from harness.images.resolver import OFFICIAL

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def facts(pytestconfig):
    from harness.pytest_plugin import RUNTIME

    return pytestconfig.stash[RUNTIME].facts["openresty"]


def test_image_reports_its_ngx_lua_and_loads_every_promised_library_and_module(openresty, facts):
    """The probe's findings, checked again in a served request: each library `require`d by running
    workers, each module's directive in the config the harness renders, with the profile's load order."""
    nginx = openresty("hello")
    profile = openresty_profile(nginx.resolved.labels)
    assert facts.id == nginx.resolved.id
    assert facts.missing(profile.promises) == []
    ngx_lua = dotted_version(nginx.identity["ngx_lua"])
    assert ngx_lua == facts.components["lua-nginx-module"]["version"]
    if profile.ngx_lua:
        assert ngx_lua == profile.ngx_lua

    present = [BY_NAME[n] for n, c in facts.components.items() if c["present"]]
    libraries = {c.name: list(c.lua) for c in present if c.lua}
    locations = "\n".join(f"location = /probe/{c.name} {{ {c.directive} return 204; }}"
                          for c in present if c.directive and c.context == "location")
    main = "\n".join(c.directive for c in present if c.directive and c.context == "main")
    probe = openresty.inline(locations + """
        location = /libraries {
            content_by_lua_block {
                local cjson = require "cjson"
                local loaded = {}
                for _, modules in pairs(cjson.decode(ngx.req.get_uri_args().want)) do
                    for _, m in ipairs(modules) do
                        local ok = pcall(require, m) or rawget(_G, m) ~= nil
                        loaded[#loaded + 1] = m .. "=" .. tostring(ok)
                    end
                end
                table.sort(loaded)
                ngx.say(table.concat(loaded, " "))
            }
        }""", main_config=main, reuse=False)
    with probe.client() as client:
        got = client.get("/libraries", params={"want": json.dumps(libraries)}).text.split()
    assert got == sorted(f"{m}=true" for modules in libraries.values() for m in modules)
    assert {"lua-resty-core", "lua-cjson", "lua-resty-redis"} <= set(libraries)


INLINE_MODULES = {"echo-nginx-module", "headers-more-nginx-module", "set-misc-nginx-module", "lua-resty-dns",
                  "lua-resty-string", "stream"}


def test_openresty_config_with_bundled_modules_runs_unchanged(openresty, dns):
    """echo, more_set_headers, set_unescape_uri, resty.dns.resolver, resty.sha256 and a stream {} server,
    as they are written for OpenResty, with no load_module of their own."""
    nginx_profile = openresty_profile(openresty.stage.resolver.resolve("openresty").labels)
    lacking = INLINE_MODULES - set(nginx_profile.promises)
    if nginx_profile.promises and lacking:
        pytest.skip(f"the {nginx_profile.name} twin does not bundle {', '.join(sorted(lacking))} (README: images)")
    dns.answer("svc.harness.test", a="10.11.12.13")
    nginx = openresty.inline(r"""
        location = /greet {
            set_unescape_uri $who $arg_who;
            more_set_headers "X-Greeted: $who";
            echo "hello, $who";
        }
        location = /lua {
            content_by_lua_block {
                local resolver = require "resty.dns.resolver"
                local sha256 = require "resty.sha256"
                local str = require "resty.string"
                local digest = sha256:new()
                digest:update("abc")
                local r, err = resolver:new{nameservers = {os.getenv("DNS_SERVER")}, retrans = 2, timeout = 2000}
                if not r then
                    ngx.log(ngx.ERR, "failed to create the resolver: ", err)
                    return ngx.exit(500)
                end
                local answers, qerr = r:query("svc.harness.test", {qtype = r.TYPE_A})
                if not answers or answers.errcode then
                    ngx.log(ngx.ERR, "failed to query: ", qerr or answers.errstr)
                    return ngx.exit(502)
                end
                ngx.say(str.to_hex(digest:final()), " ", answers[1].address)
            }
        }""", main_config="""stream {
        server {
            listen 9000;
            return "stream says hi\\n";
        }
    }""", ports=(9000,), reuse=False)
    with nginx.client() as client:
        greet = client.get("/greet", params={"who": "Ada Lovelace"})
        assert (greet.status_code, greet.text, greet.headers["X-Greeted"]) == (200, "hello, Ada Lovelace\n",
                                                                               "Ada Lovelace")
        assert client.get("/lua").text == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 10.11.12.13\n")
    with socket.create_connection(nginx.endpoint(9000), timeout=5) as conn:
        assert conn.makefile().readline() == "stream says hi\n"
    nginx.log.assert_not_logged("[error]")


def test_doctor_prints_the_component_table_beside_the_official_versions(harness_stage, facts):
    settings = harness_stage.settings
    env = {**os.environ, "HARNESS_TWIN": settings.twin, "HARNESS_OPENRESTY_IMAGE": settings.openresty_image,
           "HARNESS_REDIS_IMAGE": settings.redis_image, "HARNESS_TOOLS_IMAGE": settings.tools_image}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "doctor"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line and " " in line}
    lua = BY_NAME["lua-nginx-module"]
    assert rows["lua-nginx-module"][:2] == [lua.official, facts.components["lua-nginx-module"]["version"]]
    profile = openresty_profile(harness_stage.resolver.resolve("openresty").labels)
    for name in profile.promises:
        assert rows[name][1] != "missing", done.stdout
    assert rows["redis-server"][0] == OFFICIAL["redis"].split(":")[1].split("-")[0]
