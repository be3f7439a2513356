"""The ``.t`` front end's options (``HARNESS_T_*``, ``HARNESS_FAULT``, ``HARNESS_LUA_PATH``,
``HARNESS_CHECK_LEAK``, ``HARNESS_T_WATCH``): defined here once, with defaults and docs, read like the core's
(:class:`harness.settings.OptionSettings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.settings import Option, OptionSettings

OPTIONS: tuple[Option, ...] = (
    Option("t_paths", "HARNESS_T_PATHS", "--harness-t-paths", "t",
           "where pytest collects Test::Nginx `.t` files: comma-separated directory names or paths; a `.t` file "
           "below one of them is collected (one test per block)"),
    Option("t_lanes", "HARNESS_T_LANES", "--harness-t-lanes", "auto",
           "`.t` blocks run at once, each on its own container, in the files' order (pytest reports them in "
           "order): a number, or auto (from the CPU count up, while the blocks wait on sleeps, timers and "
           "sockets and the CPUs idle; at most 4 a CPU, bounded by memory); a block naming Redis runs alone; "
           "1 with --harness-check-leak=on or under pytest-xdist"),
    Option("fault", "HARNESS_FAULT", "--harness-fault", "",
           "a fault held for the whole run of `.t` blocks, by name (docs/faults.md): proxy.latency:ms=MS "
           "(a proxy in front of Redis), redis.refusing, dns.servfail; empty: none"),
    Option("lua_path", "HARNESS_LUA_PATH", "--harness-lua-path", "",
           "`.t` blocks: directories of Lua modules the suite needs (`:`-separated; `harness t --lua-path DIR`, "
           "repeatable): DIR/?.lua and DIR/?/init.lua come first on LUA_PATH; each directory LUA_PATH and "
           "LUA_CPATH name is mounted read-only at its own path and both reach nginx, as under prove"),
    Option("check_leak", "HARNESS_CHECK_LEAK", "--harness-check-leak", "off",
           "after each `.t` block passes, send its requests in rounds and fail it on a leak verdict "
           "(FDs, RSS, Redis clients; blocks with --- no_check_leak are left out)", ("off", "on")),
    Option("redis_users", "HARNESS_T_REDIS_USERS", "--harness-redis-users", "",
           "`.t` blocks: ACL users (NAME:PASSWORD,...) of every Redis node the blocks use, besides the open "
           "default user, as a suite's Makefile adds them (TEST_NGINX_REDIS_PORT_AUTH reaches such a node); "
           "empty: none"),
    Option("sentinel_users", "HARNESS_T_SENTINEL_USERS", "--harness-sentinel-users", "",
           "`.t` blocks: ACL users (NAME:PASSWORD,...) of every Sentinel the blocks use (TEST_NGINX_SENTINEL_PORT_AUTH "
           "reaches one); empty: none"),
    Option("watch", "HARNESS_T_WATCH", "--harness-t-watch", "off",
           "`harness t --watch`: after the first run keep the containers warm and run a `.t` file's blocks "
           "again each time it is saved, and every watched file's when a Lua module (the suite's lib/, "
           "--lua-path, LUA_PATH) or another file below the suite's t/ changes, until Ctrl-C (harness t only: "
           "pytest runs once)", ("off", "on")),
)
OPTION: dict[str, Option] = {opt.name: opt for opt in OPTIONS}  # by name, for `harness t`'s help


@dataclass(frozen=True)
class TSettings(OptionSettings):
    """Resolved ``.t`` options. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    t_paths: str
    t_lanes: str
    fault: str
    lua_path: str
    check_leak: str
    redis_users: str
    sentinel_users: str
    watch: str

    @property
    def checks_leaks(self) -> bool:
        """Whether each passing block is checked for leaks (``HARNESS_CHECK_LEAK=on``)."""
        return self.check_leak == "on"

    @property
    def watches(self) -> bool:
        """Whether ``harness t`` keeps watching after its first run (``HARNESS_T_WATCH=on``)."""
        return self.watch == "on"
