"""One small profile per image kind: where the binaries, Lua libraries and mime.types live.

Nothing else in the harness branches on "official or offline": it asks the profile.
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

# Debian bookworm: nginx 1.22 + lua-nginx-module 0.10.23 (and echo) as dynamic modules, OpenResty's LuaJIT fork.
DEBIAN_OPENRESTY = OpenRestyProfile(
    name="debian",
    nginx_bin="/usr/sbin/nginx",
    luajit_bin="/usr/bin/luajit",
    mime_types="/etc/nginx/mime.types",
    load_modules=("/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so",
                  "/usr/lib/nginx/modules/ngx_http_echo_module.so"),  # OpenResty bundles echo too
    lua_path=("/usr/share/lua/5.1/?.lua", "/usr/share/lua/5.1/?/init.lua"),
    lua_cpath=("/usr/lib/x86_64-linux-gnu/lua/5.1/?.so", "/usr/lib/aarch64-linux-gnu/lua/5.1/?.so"),
)

OPENRESTY_PROFILES = {p.name: p for p in (OFFICIAL_OPENRESTY, DEBIAN_OPENRESTY)}


@dataclass(frozen=True)
class RedisProfile:
    name: str
    server_bin: str = "redis-server"

    def server_command(self) -> list[str]:
        """A throwaway server: no persistence, reachable on the test network."""
        return [self.server_bin, "--bind", "0.0.0.0", "--protected-mode", "no",
                "--save", "", "--appendonly", "no"]


REDIS_PROFILES = {"official": RedisProfile("official"), "debian": RedisProfile("debian")}


def openresty_profile(image_labels: dict[str, str] | None) -> OpenRestyProfile:
    """The profile an image declares by label; images without the label are taken as official."""
    return OPENRESTY_PROFILES[(image_labels or {}).get(PROFILE_LABEL, "official")]


def redis_profile(image_labels: dict[str, str] | None) -> RedisProfile:
    return REDIS_PROFILES[(image_labels or {}).get(PROFILE_LABEL, "official")]
