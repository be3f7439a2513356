"""Which Lua files a coverage run counts (``--harness-coverage[=PATHS]``), as Lua patterns of the
chunk names a worker sees, and the way back from a chunk name to the file on the host.

Without PATHS the code under test is covered: each fixture's (app's) ``lua/`` directory, and the
``lib/`` directory of every suite mounted into the container (a ``.t`` suite's root). PATHS are
host files or directories; each is found where the container sees it: inside a fixture (copied to
``/harness/gen/N/fixture/``) or inside a mounted directory.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from harness.errors import HarnessError
from harness.nginx_conf import ROOT, Fixture

GEN_CHUNK = re.compile(rf"^@{re.escape(ROOT)}/gen/(\d+)/fixture/(.+)$")
FIXTURE_PATTERN = f"^@{ROOT}/gen/%d+/fixture/"  # a Lua pattern: any generation's fixture files
WHOLE = ("on", "1", "true", "yes")  # the bare flag's values: the code under test
LUA_MAGIC = re.compile(r"([\^$()%.\[\]*+\-?])")


def lua_escape(text: str) -> str:
    """``text`` as a Lua pattern matching itself."""
    return LUA_MAGIC.sub(r"%\1", text)


@dataclass(frozen=True)
class SourceFile:
    """A covered Lua file as the report names it: ``key`` (a host path, or ``<fixture>/lua/x.lua`` for
    a fixture declared inline) and its text."""

    key: str
    text: bytes
    on_host: bool  # key is a file on the host with this text

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text).hexdigest()[:12]


class CoverageScope:
    """The paths a run covers, resolved against ``rootdir``."""

    def __init__(self, value: str, rootdir: Path) -> None:
        self.whole = value.strip().lower() in WHOLE
        self.paths: tuple[Path, ...] = () if self.whole else tuple(
            (rootdir / p.strip()).resolve() for p in value.split(",") if p.strip())
        if not self.whole and not self.paths:
            raise HarnessError(f"--harness-coverage={value!r}: give `on` (the code under test) or comma-separated paths")
        missing = [p for p in self.paths if not p.exists()]
        if missing:
            raise HarnessError(f"--harness-coverage: no such file or directory {missing[0]}: give the Lua files or "
                               f"directories to cover (relative to {rootdir}), or `on` for the code under test")

    # ---- container side -----------------------------------------------------------------------
    @staticmethod
    def chunk_patterns(inside: str, workdir: str) -> list[str]:
        """Patterns of the chunk names of files under container path ``inside``: absolute, and as
        nginx's working directory ``workdir`` names them when a Lua path is relative (``./lib/?.lua``)."""
        out = ["^@" + lua_escape(inside)]
        base = workdir.rstrip("/")
        if base and (inside == base or inside.startswith(base + "/")):
            rel = inside[len(base) + 1:]
            out += ["^@%./" + lua_escape(rel), "^@" + lua_escape(rel)] if rel else ["^@%./", "^@[^/]"]
        return out

    def patterns(self, fixture: Fixture, mounts: Sequence[tuple[str, str]], workdir: str = "") -> tuple[str, ...]:
        """The Lua patterns of the chunk names to count in a container running ``fixture`` with ``mounts``
        (and nginx's working directory ``workdir``)."""
        out = []
        if self.whole:
            out.append(f"{FIXTURE_PATTERN}lua/")
            for host, inside in mounts:
                if (Path(host) / "lib").is_dir():
                    out += self.chunk_patterns(inside.rstrip("/") + "/lib/", workdir)
            return tuple(dict.fromkeys(out))
        for path in self.paths:
            if fixture.source is not None and path.is_relative_to(fixture.source):
                rel = path.relative_to(fixture.source).as_posix()
                out.append(FIXTURE_PATTERN + ("" if rel == "." else lua_escape(rel)))
            for host, inside in mounts:
                if path.is_relative_to(Path(host).resolve()):
                    rel = path.relative_to(Path(host).resolve()).as_posix()
                    out += self.chunk_patterns(inside.rstrip("/") + ("" if rel == "." else "/" + rel), workdir)
        return tuple(dict.fromkeys(out))

    # ---- host side ----------------------------------------------------------------------------
    def locate(self, chunk: str, fixtures: Mapping[int, Fixture],
               mounts: Sequence[tuple[str, str]], workdir: str = "") -> Optional[SourceFile]:
        """The file behind ``chunk`` ("@/path/x.lua", or "@./lib/x.lua" relative to ``workdir``) in a
        container whose generation N ran ``fixtures[N]``; None if it is not one the harness knows."""
        if chunk.startswith("@") and not chunk.startswith("@/") and workdir:
            chunk = "@" + posixpath.normpath(posixpath.join(workdir, chunk[1:]))
        match = GEN_CHUNK.match(chunk)
        if match:
            fixture = fixtures.get(int(match.group(1)))
            rel = match.group(2)
            if fixture is None or rel not in fixture.files:
                return None
            return self.fixture_file(fixture, rel)
        if not chunk.startswith("@/"):
            return None
        inside = chunk[1:]
        for host, at in mounts:
            at = at.rstrip("/")
            if inside.startswith(at + "/"):
                path = Path(host) / inside[len(at) + 1:]
                try:
                    return SourceFile(str(path), path.read_bytes(), True)
                except OSError:
                    return None
        return None

    @staticmethod
    def fixture_file(fixture: Fixture, rel: str) -> SourceFile:
        if fixture.source is not None:
            return SourceFile(str(fixture.source / rel), fixture.files[rel], True)
        return SourceFile(f"{fixture.name}/{rel}", fixture.files[rel], False)

    def candidates(self, fixture: Fixture, mounts: Sequence[tuple[str, str]]) -> list[SourceFile]:
        """Every covered ``.lua`` file a container with ``fixture`` and ``mounts`` can run, run or not
        (the files no test reached count as 0 %)."""
        out: list[SourceFile] = []
        if self.whole:
            out += [self.fixture_file(fixture, rel) for rel in sorted(fixture.files)
                    if rel.startswith("lua/") and rel.endswith(".lua")]
            roots = [Path(host) / "lib" for host, _ in mounts]
        else:
            for path in self.paths:
                if fixture.source is not None and path.is_relative_to(fixture.source):
                    rel = path.relative_to(fixture.source).as_posix()
                    out += [self.fixture_file(fixture, r) for r in sorted(fixture.files)
                            if r.endswith(".lua") and (rel == "." or r == rel or r.startswith(rel + "/"))]
            roots = [p for p in self.paths if any(p.is_relative_to(Path(h).resolve()) for h, _ in mounts)]
        for root in roots:
            files = [root] if root.is_file() else sorted(root.rglob("*.lua")) if root.is_dir() else []
            out += [SourceFile(str(f), f.read_bytes(), True) for f in files if f.suffix == ".lua"]
        return out
