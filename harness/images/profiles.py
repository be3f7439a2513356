"""One small profile per image: where the binaries, Lua libraries and mime.types live, which dynamic
modules to load, and what the image promises to provide.

An image names its profile with the ``org.openresty-harness.profile`` label (the offline twins carry
``trixie`` or ``bookworm``; images without it are taken as official). Nothing else in the harness
branches on "official or offline", or on the Debian release: it asks the profile.
"""
from __future__ import annotations

from dataclasses import dataclass

PROFILE_LABEL = "org.openresty-harness.profile"


@dataclass(frozen=True)
class OpenRestyProfile:
    name: str
    nginx_bin: str
    luajit_bin: str
    mime_types: str
    load_modules: tuple[str, ...]
    lua_path: tuple[str, ...]
    lua_cpath: tuple[str, ...]
    # Components (harness.images.components names) the image must provide (`harness doctor` fails
    # and a test asserts when one is missing); `ngx_lua`: the lua-nginx-module version it must report.
    # Both empty for the official profile: any OpenResty build may have its own.
    promises: tuple[str, ...] = ()
    ngx_lua: str = ""

    def version_command(self) -> str:
        """Shell command printing ``nginx -V``, a ``---`` line, then the LuaJIT version."""
        return f"{self.nginx_bin} -V 2>&1; echo ---; {self.luajit_bin} -v 2>&1"


OFFICIAL_OPENRESTY = OpenRestyProfile(
    name="official",
    nginx_bin="/usr/local/openresty/bin/openresty",
    luajit_bin="/usr/local/openresty/luajit/bin/luajit",
    mime_types="/usr/local/openresty/nginx/conf/mime.types",
    load_modules=(),
    lua_path=("/usr/local/openresty/site/lualib/?.lua", "/usr/local/openresty/site/lualib/?/init.lua",
              "/usr/local/openresty/lualib/?.lua", "/usr/local/openresty/lualib/?/init.lua"),
    lua_cpath=("/usr/local/openresty/site/lualib/?.so", "/usr/local/openresty/lualib/?.so"),
)

DEBIAN_MODULES = "/usr/lib/nginx/modules"
DEBIAN_LUA_PATH = ("/usr/share/lua/5.1/?.lua", "/usr/share/lua/5.1/?/init.lua")
DEBIAN_LUA_CPATH = ("/usr/lib/x86_64-linux-gnu/lua/5.1/?.so", "/usr/lib/aarch64-linux-gnu/lua/5.1/?.so")
CORE_PROMISES = ("nginx", "lua-nginx-module", "luajit", "lua-resty-core", "lua-resty-lrucache", "lua-cjson",
                 "lua-resty-redis", "ngx_devel_kit")

# Debian 13 (trixie), the default twin: nginx 1.26 + lua-nginx-module 0.10.28 and the modules
# OpenResty bundles that Debian packages, as dynamic modules. Load order as in OpenResty's own build
# (NDK first: set-misc and the Lua module use it; filter modules run in the reverse order).
TRIXIE_OPENRESTY = OpenRestyProfile(
    name="trixie",
    nginx_bin="/usr/sbin/nginx",
    luajit_bin="/usr/bin/luajit",
    mime_types="/etc/nginx/mime.types",
    load_modules=tuple(f"{DEBIAN_MODULES}/{m}.so" for m in (
        "ndk_http_module", "ngx_http_echo_module", "ngx_http_set_misc_module", "ngx_http_srcache_filter_module",
        "ngx_http_lua_module", "ngx_http_headers_more_filter_module", "ngx_http_memc_module", "ngx_stream_module")),
    lua_path=DEBIAN_LUA_PATH,
    lua_cpath=DEBIAN_LUA_CPATH,
    promises=(*CORE_PROMISES, "lua-resty-dns", "lua-resty-string", "lua-resty-websocket", "echo-nginx-module",
              "set-misc-nginx-module", "srcache-nginx-module", "headers-more-nginx-module", "memc-nginx-module",
              "stream"),
    ngx_lua="0.10.28",
)

# Debian 12 (bookworm), selectable with HARNESS_TWIN=bookworm: nginx 1.22 + lua-nginx-module 0.10.23.
BOOKWORM_OPENRESTY = OpenRestyProfile(
    name="bookworm",
    nginx_bin="/usr/sbin/nginx",
    luajit_bin="/usr/bin/luajit",
    mime_types="/etc/nginx/mime.types",
    load_modules=(f"{DEBIAN_MODULES}/ndk_http_module.so", f"{DEBIAN_MODULES}/ngx_http_echo_module.so",
                  f"{DEBIAN_MODULES}/ngx_http_lua_module.so", f"{DEBIAN_MODULES}/ngx_stream_module.so"),
    # echo and stream: OpenResty bundles them, Test::Nginx suites use them
    lua_path=DEBIAN_LUA_PATH,
    lua_cpath=DEBIAN_LUA_CPATH,
    promises=(*CORE_PROMISES, "echo-nginx-module", "stream"),
    ngx_lua="0.10.23",
)

OPENRESTY_PROFILES = {p.name: p for p in (OFFICIAL_OPENRESTY, TRIXIE_OPENRESTY, BOOKWORM_OPENRESTY)}
# Twins built before the trixie twin existed say "debian": they are bookworm ones.
LEGACY_LABELS = {"debian": "bookworm"}


@dataclass(frozen=True)
class RedisProfile:
    name: str
    server_bin: str = "redis-server"

    def server_command(self) -> list[str]:
        """A throwaway server: no persistence, reachable on the test network."""
        return [self.server_bin, "--bind", "0.0.0.0", "--protected-mode", "no",
                "--save", "", "--appendonly", "no"]


REDIS_PROFILES = {name: RedisProfile(name) for name in ("official", "trixie", "bookworm")}


def profile_name(image_labels: dict[str, str] | None) -> str:
    """The profile an image declares by label; images without the label are taken as official."""
    name = (image_labels or {}).get(PROFILE_LABEL, "official")
    return LEGACY_LABELS.get(name, name)


def openresty_profile(image_labels: dict[str, str] | None) -> OpenRestyProfile:
    return OPENRESTY_PROFILES[profile_name(image_labels)]


def redis_profile(image_labels: dict[str, str] | None) -> RedisProfile:
    return REDIS_PROFILES[profile_name(image_labels)]
