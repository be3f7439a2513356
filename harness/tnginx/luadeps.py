"""A suite's Lua dependencies as prove's nginx finds them: ``LUA_PATH`` / ``LUA_CPATH`` from the
environment (a block's ``lua_package_path "...;;"`` expands ``;;`` to them when nginx reads its
config), plus directories given with ``--lua-path DIR`` (``DIR/?.lua`` and ``DIR/?/init.lua`` first).
Every directory they name is mounted read-only at the same path in the OpenResty container and the
variables are passed to nginx, so ``require`` finds there what it finds on the host."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from harness.errors import HarnessError

# The image's own places: a host directory there would hide the image's libraries (resty.core ...)
IMAGE_DIRS = frozenset({"bin", "boot", "dev", "etc", "harness", "lib", "lib32", "lib64", "libx32", "proc", "run",
                        "sbin", "sys", "usr", "var"})


class LuaPathError(HarnessError):
    """A ``--lua-path`` directory that does not exist."""


def template_dir(entry: str) -> str:
    """The directory a ``package.path`` template names: the part before its first ``?`` component
    (``/x/lib/?.lua`` and ``/x/lib/?/init.lua`` name ``/x/lib``); "" for a relative or empty one."""
    if not entry.startswith("/"):
        return ""
    parts = PurePosixPath(entry).parts
    keep = [p for p in parts[:next((i for i, p in enumerate(parts) if "?" in p), len(parts))]]
    return str(PurePosixPath(*keep)) if len(keep) > 1 else ""


@dataclass(frozen=True)
class LuaDeps:
    lua_path: str = ""  # LUA_PATH as nginx sees it ("": not set)
    lua_cpath: str = ""
    dirs: tuple[str, ...] = ()  # host directories to mount at the same path

    @classmethod
    def of(cls, environ: Mapping[str, str], extra: Sequence[str] = (), inside: Sequence[Path] = ()) -> "LuaDeps":
        """From ``environ``'s LUA_PATH/LUA_CPATH and the ``extra`` directories (first on LUA_PATH).
        Directories below one of ``inside`` (the suite's root, mounted already) are not mounted again."""
        added: list[str] = []
        for given in extra:
            path = Path(given).expanduser().resolve()
            if not path.is_dir():
                raise LuaPathError(f"--lua-path {given}: no such directory (give a directory holding Lua "
                                   "modules, e.g. a library's lib/)")
            added += [f"{path}/?.lua", f"{path}/?/init.lua"]
        lua_path = environ.get("LUA_PATH", "")
        if added:
            lua_path = ";".join(added) + ";" + (lua_path if lua_path else ";")
        lua_cpath = environ.get("LUA_CPATH", "")
        found: list[str] = []
        for entry in [*lua_path.split(";"), *lua_cpath.split(";")]:
            d = template_dir(entry)
            if not d or PurePosixPath(d).parts[1] in IMAGE_DIRS or not Path(d).is_dir():
                continue
            found.append(str(Path(d).resolve()))
        roots = [Path(p).resolve() for p in inside]
        dirs: list[str] = []
        for d in sorted(set(found), key=len):  # a parent first: its children are mounted with it
            if not any(Path(d) == r or r in Path(d).parents for r in [*roots, *map(Path, dirs)]):
                dirs.append(d)
        return cls(lua_path, lua_cpath, tuple(dirs))

    def env(self) -> dict[str, str]:
        """The variables the container's nginx gets."""
        return {k: v for k, v in (("LUA_PATH", self.lua_path), ("LUA_CPATH", self.lua_cpath)) if v}

    def mounts(self) -> tuple[tuple[str, str], ...]:
        return tuple((d, d) for d in self.dirs)


def split_dirs(value: str) -> list[str]:
    """``--harness-lua-path`` / ``HARNESS_LUA_PATH``: directories separated by ``:`` (os.pathsep)."""
    return [p for p in value.split(os.pathsep) if p.strip()]
