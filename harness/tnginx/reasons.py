"""Why a block did not run as it runs under prove, in a few classes a user can act on: a section the
harness does not run, a module the image lacks, a Lua module the suite's dependencies would provide,
the public network. Each block that meets one carries its class and detail (``Cause``) into its
verdict, the summary table of ``harness t`` and ``reports/t.json``."""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Optional


class CauseClass(str, Enum):
    UNSUPPORTED_SECTION = "unsupported section"
    MODULE_MISSING = "module missing in image"
    LUA_MODULE_MISSING = "Lua module missing"
    PUBLIC_NETWORK = "needs the public network"


@dataclass(frozen=True)
class Cause:
    kind: CauseClass
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"

    @property
    def advice(self) -> str:
        """What to do about it, in a few words."""
        return ADVICE[self.kind]


ADVICE = {
    CauseClass.UNSUPPORTED_SECTION: "the harness does not run this section (README: Running your Test::Nginx suite)",
    CauseClass.MODULE_MISSING: "run on an image that has the module (the official openresty/openresty image has it)",
    CauseClass.LUA_MODULE_MISSING: "give the suite's Lua dependencies: --lua-path DIR (repeatable) or LUA_PATH, as for prove",
    CauseClass.PUBLIC_NETWORK: "the harness's containers reach no public host or resolver (as on a machine offline)",
}

# `require` failing: "module 'resty.openssl' not found:" (Lua) in error.log, a body or nginx -t's output
LUA_MODULE_NOT_FOUND = re.compile(r"module '([\w.\-/]+)' not found")
# a name nginx's resolver could not find, or an address without a route (the containers' networks are internal)
NOT_RESOLVED = re.compile(r"(\S+?) could not be resolved")
UNREACHABLE = "(101: Network is unreachable)"
# nginx that does not know a directive: the module that provides it is not in the image
UNKNOWN_DIRECTIVE = re.compile(r'\[emerg\].*?unknown directive "([\w.]+)"')
DIRECTIVE_MODULES = (("more_", "headers-more-nginx-module"), ("echo", "echo-nginx-module"),
                     ("set_", "set-misc-nginx-module"), ("srcache_", "srcache-nginx-module"),
                     ("memc_", "memc-nginx-module"), ("redis2_", "redis2-nginx-module"),
                     ("array_", "array-var-nginx-module"), ("encrypted_session", "encrypted-session-nginx-module"),
                     ("rds_", "rds-json-nginx-module"), ("xss_", "xss-nginx-module"))
PEER = re.compile(r"(?:connect\(\) to|resolver:?) ([^\s,]+)")


def unsupported_sections(names: Iterable[str]) -> Cause:
    return Cause(CauseClass.UNSUPPORTED_SECTION, ", ".join(sorted(names)))


def module_missing(name: str) -> Cause:
    return Cause(CauseClass.MODULE_MISSING, name)


def missing_modules(needed: Iterable[str], present: Optional[frozenset[str]]) -> Optional[Cause]:
    """The first of ``needed`` the image lacks (``present``: the image's modules; None: unknown, so
    nothing is missing). The Lua module is named first: it is the one a stream block is about."""
    if present is None:
        return None
    missing = [m for m in needed if m not in present]
    if not missing:
        return None
    return module_missing(next((m for m in missing if "lua" in m), missing[0]))


def of_failure(texts: Iterable[str]) -> Optional[Cause]:
    """The class of a failed block from what it left (error.log lines, the failures, nginx -t's
    output): a Lua module that ``require`` did not find, a public name or address it needed, or a
    directive nginx does not know (its module is not in the image)."""
    lua_missing = network = directive = None
    for text in texts:
        if directive is None and (d := UNKNOWN_DIRECTIVE.search(text)):
            directive = d.group(1)
        if lua_missing is None and (m := LUA_MODULE_NOT_FOUND.search(text)):
            lua_missing = m.group(1)
        if network is None:
            m = NOT_RESOLVED.search(text) or (PEER.search(text) if UNREACHABLE in text else None)
            if m and not m.group(1).startswith(("127.", "localhost")):
                network = m.group(1).strip('"')
            elif m is None and UNREACHABLE in text:
                network = "an address with no route"
    if lua_missing is not None:
        return Cause(CauseClass.LUA_MODULE_MISSING, lua_missing)
    if network is not None:
        return Cause(CauseClass.PUBLIC_NETWORK, network)
    if directive is not None:
        module = next((m for prefix, m in DIRECTIVE_MODULES if directive.startswith(prefix)), "")
        return module_missing(f"{module} (directive {directive})" if module else f"the one with directive {directive}")
    return None
