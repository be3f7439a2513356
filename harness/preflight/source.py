"""The app as the static checks see it: every Lua chunk (module files under the app, inline
``*_by_lua_block`` bodies, ``*_by_lua_file`` targets) with its file, first line and phase, and the
config directives the checks compare against (``lua_shared_dict``, Lua paths, ``load_module``)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.nginx_conf import SNIPPETS, Fixture
from harness.preflight.lua_tokens import LuaTokenError, Token, is_op, tokenize

BLOCK = re.compile(r"\b([a-z_]+)_by_lua_block\s*\{")
FILE_DIRECTIVE = re.compile(r"\b([a-z_]+)_by_lua_file\s+(\"[^\"]*\"|'[^']*'|[^\s;]+)\s*;")
DIRECTIVE = re.compile(r"^[ \t]*(lua_shared_dict|lua_package_path|lua_package_cpath|load_module)\s+([^;]*);",
                       re.MULTILINE)
FIXTURE_DIR = "${FIXTURE_DIR}/"
DEFAULT_LUA_PATH = ("lua/?.lua", "lua/?/init.lua")  # what the harness puts first (nginx_conf)
DEFAULT_LUA_CPATH = ("lua/?.so",)


@dataclass
class Chunk:
    """Lua code with where it came from: ``origin`` is the app-relative file, ``first_line`` the
    line of the app file that is the chunk's line 1."""

    text: str
    origin: str
    first_line: int = 1
    phase: Optional[str] = None  # "content", "log", ... for inline blocks and *_by_lua_file; None: a module
    module: Optional[str] = None  # module name of a file on the app's own package path
    tokens: list[Token] = field(default_factory=list)
    token_error: str = ""

    def where(self, line: int) -> str:
        return f"{self.origin}:{self.first_line + line - 1}"

    @property
    def label(self) -> str:
        return f"{self.phase}_by_lua_block ({self.where(1)})" if self.phase else self.origin


@dataclass(frozen=True)
class Directive:
    name: str
    args: str
    origin: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.origin}:{self.line}"


def _blank(text: str, start: int, end: int) -> str:
    """``text`` with [start, end) replaced by spaces, newlines kept (line numbers stay right)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def split_config(text: str, origin: str) -> tuple[list[Chunk], str]:
    """The inline Lua blocks of one config snippet, and the snippet with comments and Lua blanked."""
    chunks: list[Chunk] = []
    plain = text
    i = 0
    while i < len(text):
        hash_at = text.find("#", i)
        block = BLOCK.search(text, i)
        if hash_at >= 0 and (block is None or hash_at < block.start()):
            end = text.find("\n", hash_at)
            end = len(text) if end < 0 else end
            plain = _blank(plain, hash_at, end)
            i = end
            continue
        if block is None:
            break
        body_start = block.end()
        line = text.count("\n", 0, body_start) + 1
        chunk = Chunk(text[body_start:], origin, line, phase=block.group(1))
        try:
            chunk.tokens, consumed = tokenize(chunk.text, brace_stop=True)
            body_end = body_start + consumed
        except LuaTokenError as exc:
            chunk.token_error = str(exc)
            body_end = len(text)
        chunk.text = text[body_start:body_end]
        chunks.append(chunk)
        plain = _blank(plain, body_start, body_end)
        i = body_end + 1
    return chunks, plain


def module_name(rel: str, templates: tuple[str, ...]) -> Optional[str]:
    """The module name that finds app file ``rel`` through one of the app-relative ``templates``."""
    for template in templates:
        prefix, _, suffix = template.partition("?")
        if rel.startswith(prefix) and rel.endswith(suffix) and len(rel) > len(prefix) + len(suffix):
            name = rel[len(prefix):len(rel) - len(suffix)]
            if "." not in name:
                return name.replace("/", ".")
    return None


def app_templates(directives: list[Directive], name: str, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The app-relative templates of ``lua_package_path``/``_cpath`` (``${FIXTURE_DIR}/lua/?.lua``
    -> ``lua/?.lua``); the harness's defaults when the app sets none."""
    mine = [d for d in directives if d.name == name]
    if not mine:
        return defaults
    out = []
    for part in mine[-1].args.strip().strip("\"'").split(";"):
        if part.startswith(FIXTURE_DIR):
            out.append(part[len(FIXTURE_DIR):])
    return tuple(out)


@dataclass
class AppSource:
    """Everything the static checks read from one app (a :class:`~harness.nginx_conf.Fixture`)."""

    fixture: Fixture
    chunks: list[Chunk] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)

    @classmethod
    def read(cls, fixture: Fixture) -> "AppSource":
        app = cls(fixture)
        file_phases: dict[str, set[str]] = {}
        for name in SNIPPETS:
            if name not in fixture.snippets:
                continue
            text = fixture.snippets[name]
            chunks, plain = split_config(text, name)
            app.chunks += chunks
            for m in DIRECTIVE.finditer(plain):
                line = plain.count("\n", 0, m.start(1)) + 1
                app.directives.append(Directive(m.group(1), m.group(2).strip(), name, line))
            for m in FILE_DIRECTIVE.finditer(plain):
                target = m.group(2).strip("\"'")
                rel = target[len(FIXTURE_DIR):] if target.startswith(FIXTURE_DIR) else target
                file_phases.setdefault(os.path.normpath(rel), set()).add(m.group(1))
        templates = app_templates(app.directives, "lua_package_path", DEFAULT_LUA_PATH)
        for rel, content in sorted(fixture.files.items()):
            if not rel.endswith(".lua"):
                continue
            phases = sorted(file_phases.get(os.path.normpath(rel), ()))
            chunk = Chunk(content.decode(errors="replace"), rel, 1, phase=phases[0] if phases else None,
                          module=module_name(rel, templates))
            try:
                chunk.tokens, _ = tokenize(chunk.text)
            except LuaTokenError as exc:
                chunk.token_error = str(exc)
            app.chunks.append(chunk)
        return app

    def display(self, where: str) -> str:
        """``lua/x.lua:3`` as a path a user can open (the app's directory on this host, when known)."""
        if self.fixture.source is None:
            return f"<{self.fixture.name}>/{where}"
        path = self.fixture.source / where
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def native_files(self) -> list[str]:
        """App files that are shared objects (``lua/x.so``), relative to the app."""
        return sorted(rel for rel in self.fixture.files if rel.endswith(".so") or ".so." in rel)

    def modules(self) -> dict[str, Chunk]:
        return {c.module: c for c in self.chunks if c.module}


def requires(chunk: Chunk) -> list[tuple[str, int]]:
    """``(module, line)`` for every ``require "x"`` / ``require("x")`` with a constant name."""
    found = []
    toks = chunk.tokens
    for i, tok in enumerate(toks):
        if tok.kind != "name" or tok.value != "require" or (i > 0 and toks[i - 1].kind == "op"
                                                            and toks[i - 1].value in (".", ":")):
            continue
        j = i + 1
        if j < len(toks) and is_op(toks[j], "("):
            j += 1
        if j < len(toks) and toks[j].kind == "string":
            after = toks[j + 1] if j + 1 < len(toks) else None
            if after is None or not is_op(after, ".."):
                found.append((toks[j].value, tok.line))
    return found


def phases_of(app: AppSource) -> dict[str, set[str]]:
    """For each chunk's origin label: the phases it can run in (inline blocks: their own; modules:
    every phase that requires them, transitively; never required: unknown)."""
    modules = app.modules()
    reached: dict[int, set[str]] = {id(c): ({c.phase} if c.phase else set()) for c in app.chunks}
    changed = True
    while changed:
        changed = False
        for chunk in app.chunks:
            for name, _ in requires(chunk):
                target = modules.get(name)
                if target is None or target is chunk:
                    continue
                before = len(reached[id(target)])
                reached[id(target)] |= reached[id(chunk)]
                changed |= len(reached[id(target)]) != before
    return {str(id(c)): reached[id(c)] for c in app.chunks}

