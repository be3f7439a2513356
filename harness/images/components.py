"""What OpenResty bundles, how each part is probed in an image, and its version in the pinned official image.

The versions under ``official`` are those of the image the resolver pins (``OFFICIAL_TAG``), recorded
from :data:`OFFICIAL_SOURCE`; a run that cannot pull that image still shows them beside what its
own image reports (``harness doctor``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OFFICIAL_TAG = "openresty/openresty:1.31.1.1-0-bookworm"
OFFICIAL_SOURCE = ("openresty/openresty git tag v1.31.1.1 (2026-05-29), util/mirror-tarballs: the bundled versions; "
                   "openresty/docker-openresty git tag 1.31.1.1-0, bookworm/Dockerfile: openresty 1.31.1.1-1~bookworm1")

Kind = Literal["core", "library", "module"]


@dataclass(frozen=True)
class Component:
    """One part of OpenResty. A library is probed by ``require``-ing each of ``lua`` (or reading the
    global of that name, for ``ndk``); a module by ``nginx -t`` on a config that uses its ``directive``
    (``context="main"``: a main-context block, else the body of a location)."""

    name: str
    kind: Kind
    official: str
    lua: tuple[str, ...] = ()
    directive: str = ""
    context: Literal["location", "main"] = "location"
    configure: str = ""  # directory name in `nginx -V`: --add-module=../NAME-VERSION
    debian: str = ""  # the Debian package that provides it (alternatives: "a|b"); its version is shown for twins


def _lib(name: str, official: str, *lua: str, debian: str = "") -> Component:
    return Component(name, "library", official, lua=lua, debian=debian)


def _mod(name: str, official: str, directive: str, configure: str = "", debian: str = "",
         context: Literal["location", "main"] = "location") -> Component:
    return Component(name, "module", official, directive=directive, context=context,
                     configure=configure or name, debian=debian)


CORE = (
    Component("nginx", "core", "1.31.1", debian="nginx"),
    Component("lua-nginx-module", "core", "0.10.31rc5", configure="ngx_lua", debian="libnginx-mod-http-lua"),
    Component("luajit", "core", "2.1-20260415", debian="libluajit-5.1-2|libluajit2-5.1-2"),
)
LIBRARIES = (
    _lib("lua-resty-core", "0.1.34rc3", "resty.core", debian="lua-resty-core"),
    _lib("lua-resty-lrucache", "0.15", "resty.lrucache", "resty.lrucache.pureffi", debian="lua-resty-lrucache"),
    _lib("lua-cjson", "2.1.0.17", "cjson", "cjson.safe", debian="lua-cjson"),
    _lib("lua-resty-redis", "0.33", "resty.redis", debian="lua-nginx-redis"),
    _lib("lua-resty-dns", "0.23", "resty.dns.resolver", debian="lua-nginx-dns"),
    _lib("lua-resty-string", "0.17", "resty.string", "resty.sha256", "resty.sha1", "resty.md5", "resty.aes",
         "resty.random", debian="lua-nginx-string"),
    _lib("lua-resty-websocket", "0.13", "resty.websocket.server", "resty.websocket.client",
         "resty.websocket.protocol", debian="lua-nginx-websocket"),
    _lib("lua-resty-lock", "0.09", "resty.lock"),
    _lib("lua-resty-limit-traffic", "0.09", "resty.limit.req", "resty.limit.conn", "resty.limit.count"),
    _lib("lua-resty-memcached", "0.17", "resty.memcached"),
    _lib("lua-resty-mysql", "0.30", "resty.mysql"),
    _lib("lua-resty-upload", "0.11", "resty.upload"),
    _lib("lua-resty-upstream-healthcheck", "0.09", "resty.upstream.healthcheck"),
    _lib("lua-resty-shell", "0.03", "resty.shell"),
    _lib("lua-resty-signal", "0.04", "resty.signal"),
    _lib("lua-tablepool", "0.03", "tablepool"),
    _lib("lua-resty-rsa", "1.1.1", "resty.rsa"),
    _lib("lua-resty-openssl", "1.7.1", "resty.openssl"),
    _lib("lua-redis-parser", "0.13", "redis.parser"),
    _lib("lua-rds-parser", "0.06", "rds.parser"),
)
MODULES = (
    Component("ngx_devel_kit", "module", "0.3.4", lua=("ndk",), configure="ngx_devel_kit",
              debian="libnginx-mod-http-ndk"),
    Component("lua-upstream-nginx-module", "module", "0.08", lua=("ngx.upstream",), configure="ngx_lua_upstream"),
    _mod("echo-nginx-module", "0.64", "echo ok;", debian="libnginx-mod-http-echo"),
    _mod("set-misc-nginx-module", "0.33", "set_unescape_uri $harness_probe $arg_p;",
         debian="libnginx-mod-http-set-misc"),
    _mod("headers-more-nginx-module", "0.39", 'more_set_headers "X-Harness-Probe: 1";',
         debian="libnginx-mod-http-headers-more-filter"),
    _mod("srcache-nginx-module", "0.33", "srcache_fetch GET /probe;", debian="libnginx-mod-http-srcache-filter"),
    _mod("memc-nginx-module", "0.20", "memc_pass 127.0.0.1:11211;", debian="libnginx-mod-http-memc"),
    _mod("redis2-nginx-module", "0.15", "redis2_query ping; redis2_pass 127.0.0.1:6379;"),
    _mod("redis-nginx-module", "0.41", "redis_pass 127.0.0.1:6379;"),
    _mod("xss-nginx-module", "0.07", "xss_get on;"),
    _mod("ngx_coolkit", "0.2", "override_method GET;"),
    _mod("form-input-nginx-module", "0.12", "set_form_input $harness_probe;"),
    _mod("encrypted-session-nginx-module", "0.09", "encrypted_session_key abcdefghijklmnopqrstuvwxyz123456;"),
    _mod("array-var-nginx-module", "0.06", "array_split , $arg_p to=$harness_probe;"),
    _mod("rds-json-nginx-module", "0.17", "rds_json on;"),
    _mod("rds-csv-nginx-module", "0.10", "rds_csv on;"),
    _mod("stream", "1.31.1", "stream { server { listen 127.0.0.1:18091; return ok; } }", configure="-",
         context="main", debian="libnginx-mod-stream"),
    _mod("ngx_stream_lua", "0.0.19rc4", "stream { server { listen 127.0.0.1:18092; content_by_lua_block { } } }",
         context="main"),
)
COMPONENTS: tuple[Component, ...] = CORE + LIBRARIES + MODULES
BY_NAME = {c.name: c for c in COMPONENTS}


def dotted_version(number: int) -> str:
    """``ngx.config.ngx_lua_version`` (10028) or ``ngx.config.nginx_version`` (1026003) as a version
    (0.10.28, 1.26.3)."""
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"
