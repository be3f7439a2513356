"""What an image really contains: ``nginx -V``, LuaJIT, every bundled library and module, or
``redis-server --version`` / ``python3 --version``.

Probed once per image id with a short-lived, network-less container and cached on disk. For an
OpenResty image the probe runs nginx itself: an ``init_by_lua_block`` that reports
``ngx.config.ngx_lua_version``, ``jit.version`` and ``require``\\s each library (then exits), and one
``nginx -t`` per module on a config that uses its directive. Versions come from what the library
reports, ``nginx -V``'s ``--add-module`` paths, or the Debian package that installed it.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from harness.engine import Engine
from harness.images.components import COMPONENTS, MODULES, Component, dotted_version
from harness.images.profiles import OPENRESTY_PROFILES, OpenRestyProfile, openresty_profile, redis_profile
from harness.images.resolver import OFFICIAL, ResolvedImage

PROBE_TIMEOUT = 60
PROBE_DIR = "/tmp/harness-probe"
MARK = "@@harness-probe"
DEBIAN_PACKAGES = tuple(sorted({p for c in COMPONENTS for p in c.debian.split("|") if p}))


@dataclass
class ImageFacts:
    kind: str
    ref: str
    id: str
    source: str
    profile: str
    note: str
    version: str  # full `nginx -V`, `redis-server --version` or `python3 --version` output
    luajit: str = ""
    # OpenResty only: component name -> {"present": bool, "version": str, "detail": str}
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the server version, the LuaJIT version, where the image came from."""
        lines = self.version.splitlines()
        head = lines[0].replace("nginx version: ", "") if lines else "?"
        jit = f", {self.luajit.split(' -- ')[0]}" if self.luajit else ""
        lua = self.components.get("lua-nginx-module", {})
        ngx_lua = f", ngx_lua {lua['version']}" if lua.get("present") else ""
        note = f"; {self.note}" if self.note else ""
        return f"{head}{ngx_lua}{jit} -- {self.ref} ({self.source}, profile {self.profile}, {self.id[7:19]}{note})"

    def missing(self, names: tuple[str, ...]) -> list[str]:
        """Those of ``names`` the probe did not find, with why."""
        return [f"{n}: {self.components.get(n, {}).get('detail') or 'not probed'}" for n in names
                if not self.components.get(n, {}).get("present")]


# --- the probe -------------------------------------------------------------------------------

def _conf(profile: OpenRestyProfile, body: str) -> str:
    loads = "".join(f"load_module {m};\n" for m in profile.load_modules)
    return f"{loads}events {{}}\n{body}\n"


def _lua_probe() -> str:
    probes = "\n".join(f"    probe({json.dumps(c.name)}, {{{', '.join(json.dumps(m) for m in c.lua)}}})"
                       for c in COMPONENTS if c.lua)
    return f"""
    local function say(...) io.stdout:write(table.concat({{...}}, "\\t"), "\\n") end
    say("ngx_lua", tostring(ngx.config.ngx_lua_version))
    say("nginx", tostring(ngx.config.nginx_version))
    say("jit", jit and jit.version or "")
    local function probe(name, modules)
        local version
        for i, m in ipairs(modules) do
            local ok, mod = pcall(require, m)
            if not ok and rawget(_G, m) ~= nil then
                ok, mod = true, rawget(_G, m)
            end
            if not ok then
                return say("lib", name, "missing", m .. ": " .. tostring(mod):match("^[^\\n]*"):gsub("[\\t:]+$", ""))
            end
            if i == 1 and type(mod) == "table" then
                version = rawget(mod, "_VERSION") or rawget(mod, "version")
            end
        end
        say("lib", name, "ok", tostring(version or ""))
    end
{probes}
    io.stdout:flush()
    os.exit(0)"""


def _run(name: str, conf: str, nginx: str, test: bool) -> str:
    where = f"{PROBE_DIR}/{name}"
    return (f"mkdir -p {where}/logs && cat > {where}/nginx.conf <<'HARNESS_PROBE_EOF'\n{conf}HARNESS_PROBE_EOF\n"
            f"{nginx} -p {where}/ -c {where}/nginx.conf -e stderr{' -t' if test else ''} 2>&1; echo \"@@exit $?\"")


def openresty_probe(profile: OpenRestyProfile) -> str:
    """The shell script that prints every fact of an OpenResty image, in ``@@harness-probe NAME`` sections."""
    paths = (f'lua_package_path "{";".join(profile.lua_path)};;";\n'
             f'lua_package_cpath "{";".join(profile.lua_cpath)};;";\n')
    sections = [("nginx-V", f"{profile.nginx_bin} -V 2>&1"), ("luajit", f"{profile.luajit_bin} -v 2>&1"),
                ("dpkg", f"dpkg-query -W -f '${{Package}} ${{Version}}\\n' {' '.join(DEBIAN_PACKAGES)} 2>/dev/null"),
                ("lua", _run("lua", _conf(profile, f"http {{\n{paths}init_by_lua_block {{{_lua_probe()}\n}}\n}}"),
                             profile.nginx_bin, test=False))]
    for i, c in enumerate(m for m in MODULES if m.directive):
        body = (c.directive if c.context == "main" else
                f"http {{\nserver {{\nlisten 127.0.0.1:18090;\nlocation /probe {{\n{c.directive}\n}}\n}}\n}}")
        sections.append((f"module {c.name}", _run(f"m{i}", _conf(profile, body), profile.nginx_bin, test=True)))
    return "\n".join(f"echo {shlex.quote(f'{MARK} {name}')}\n{script}" for name, script in sections)


def _sections(output: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(MARK + " "):
            current = found.setdefault(line[len(MARK) + 1:], [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in found.items()}


def _upstream(debian_version: str) -> str:
    """The upstream part of a Debian version: ``1:0.63-7`` -> ``0.63``."""
    return re.sub(r"(\+dfsg[^-]*)?-[^-]*$", "", debian_version.split(":", 1)[-1])


def luajit_text(jit_version: str) -> str:
    """OpenResty's LuaJIT reports ``LuaJIT 2.1.<release time>``; name it as its tags do (2.1-YYYYMMDD)."""
    m = re.fullmatch(r"LuaJIT 2\.1\.(\d{9,})", jit_version.strip())
    if not m:
        return jit_version.replace("LuaJIT ", "")
    return f"2.1-{datetime.datetime.fromtimestamp(int(m.group(1)), datetime.timezone.utc):%Y%m%d}"


def parse_openresty_probe(output: str) -> dict[str, dict[str, Any]]:
    """Component facts from the probe's output (see :func:`openresty_probe`)."""
    sec = _sections(output)
    packages = dict(line.split(" ", 1) for line in sec.get("dpkg", "").splitlines() if " " in line)
    lua: dict[str, str] = {}
    libs: dict[str, tuple[bool, str]] = {}
    for line in sec.get("lua", "").splitlines():
        cols = line.split("\t")
        if cols[0] == "lib" and len(cols) == 4:
            libs[cols[1]] = (cols[2] == "ok", cols[3])
        elif len(cols) == 2:
            lua[cols[0]] = cols[1]
    added = dict(re.findall(r"--add-module=\S*?/([A-Za-z_-]+?)-(\d[\w.]*)", sec.get("nginx-V", "")))

    def fact(c: Component, present: bool, reported: str = "", why: str = "") -> dict[str, Any]:
        if not present:
            return {"present": False, "version": "", "detail": why}
        name = next((p for p in c.debian.split("|") if p in packages), "")
        package = packages.get(name, "")
        # A library's release is the package's (lua-resty-lrucache 0.15 still says _VERSION 0.14);
        # the core parts report their own exact versions.
        version = (reported if c.kind == "core" else "") or (_upstream(package) if package else "") \
            or reported or added.get(c.configure, "")
        said = f"reports {reported}; " if reported and reported != version else ""
        return {"present": True, "version": version,
                "detail": f"{said}Debian {name} {package}" if package else said.rstrip("; ")}

    out: dict[str, dict[str, Any]] = {}
    nginx_number = int(lua.get("nginx", "0") or 0)
    head = (sec.get("nginx-V", "").splitlines() or [""])[0]
    core = dotted_version(nginx_number) if nginx_number else (re.findall(r"/(\d+\.\d+\.\d+)", head) or [""])[0]
    out["nginx"] = fact(COMPONENTS[0], bool(core), core, why="nginx -V printed no version")
    ngx_lua = int(lua.get("ngx_lua", "0") or 0)
    lua_why = (sec.get("lua", "").splitlines() or ["the Lua probe printed nothing"])[0]
    out["lua-nginx-module"] = fact(COMPONENTS[1], bool(ngx_lua), dotted_version(ngx_lua) if ngx_lua else "", lua_why)
    jit = lua.get("jit", "")
    out["luajit"] = fact(COMPONENTS[2], bool(jit), luajit_text(jit) if jit else "", lua_why)
    for c in COMPONENTS:
        if c.lua:
            ok, said = libs.get(c.name, (False, lua_why if not libs else "not probed"))
            out[c.name] = fact(c, ok, said if ok else "", said)
        elif c.directive:
            text = sec.get(f"module {c.name}", "")
            ok = text.endswith("@@exit 0")
            emerg = next((ln for ln in text.splitlines() if "[emerg]" in ln), text[:160])
            why = re.sub(r"^.*\[emerg\] (\d+#\d+: )?|(\s+in \S+:\d+)$", "", emerg)
            out[c.name] = fact(c, ok, core if ok and c.configure == "-" else "", why)
    return out


def _command(image: ResolvedImage) -> str:
    if image.kind == "openresty":
        return openresty_probe(openresty_profile(image.labels))
    if image.kind == "tools":
        return "python3 --version 2>&1"
    if image.kind == "memcached":
        return "memcached -V 2>&1"
    server = redis_profile(image.labels).server_bin
    # Sentinel is the same binary in sentinel mode (Debian's redis-sentinel is a symlink): started for
    # as long as it takes to log its mode (a deadline of 5 s), it says its version
    return (f"{server} --version; printf 'port 26379\\n' > /tmp/sentinel.conf; "
            f"{server} /tmp/sentinel.conf --sentinel > /tmp/sentinel.log 2>&1 & p=$!; i=0; "
            "until grep -q mode=sentinel /tmp/sentinel.log || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done; "
            "kill $p; grep -q mode=sentinel /tmp/sentinel.log && "
            "sed -n 's/.*Redis version=\\([0-9.]*\\).*/redis-sentinel v=\\1/p' /tmp/sentinel.log")


def probe(engine: Engine, image: ResolvedImage, labels: Mapping[str, str],
          cache_file: Optional[Path] = None) -> ImageFacts:
    """Run the image's probe (or take its result from ``cache_file``) and return the facts."""
    command = _command(image)
    key = f"{image.id}:{hashlib.sha256(command.encode()).hexdigest()[:12]}"  # a changed probe probes again
    cache: dict[str, dict[str, Any]] = {}
    if cache_file and cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except ValueError:
            cache = {}
    if key in cache:
        raw = cache[key]
    else:
        container = engine.client.containers.run(
            image.id, ["sh", "-c", command], detach=True, network_mode="none",
            labels={**labels, "harness.kind": "probe"})
        try:
            container.wait(timeout=PROBE_TIMEOUT)
            output = container.logs().decode(errors="replace").strip()
        finally:
            container.remove(force=True)
        if image.kind == "openresty":
            sec = _sections(output)
            raw = {"version": sec.get("nginx-V", ""), "luajit": sec.get("luajit", ""),
                   "components": parse_openresty_probe(output)}
        else:
            raw = {"version": output}
        if cache_file:
            cache[key] = raw
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            # Several runs (xdist workers) may write at once: each writes its own file, then renames it.
            partial = cache_file.with_name(f"{cache_file.name}.{os.getpid()}")
            partial.write_text(json.dumps(cache, indent=1))
            os.replace(partial, cache_file)
    return ImageFacts(kind=image.kind, ref=image.ref, id=image.id, source=image.source, profile=image.profile,
                      note=image.note, version=raw["version"], luajit=raw.get("luajit", ""),
                      components=raw.get("components", {}))


def as_record(facts: ImageFacts) -> dict[str, Any]:
    return asdict(facts)


# --- side by side with the official image ------------------------------------------------------

PROMISE_BROKEN = "MISSING, promised by the profile"


@dataclass(frozen=True)
class Row:
    component: str
    official: str
    actual: str  # the version, "present", or "missing"
    verdict: str  # "same", "differs", "present" (no version to compare), "missing" or PROMISE_BROKEN

    def cells(self) -> tuple[str, str, str, str]:
        return (self.component, self.official, self.actual, self.verdict)


def _official_version(tag: str) -> str:
    found: list[str] = re.findall(r":(\d+(?:\.\d+)*)", tag)
    return found[0] if found else ""


def compare(facts: Mapping[str, ImageFacts]) -> list[Row]:
    """Each component of the images a run uses beside its version in the pinned official images."""
    rows: list[Row] = []
    openresty = facts.get("openresty")
    if openresty is not None:
        promised = OPENRESTY_PROFILES[openresty.profile].promises
        for c in COMPONENTS:
            got = openresty.components.get(c.name, {})
            if not got.get("present"):
                rows.append(Row(c.name, c.official, "missing", PROMISE_BROKEN if c.name in promised else "missing"))
                continue
            actual = got.get("version") or "present"
            same = actual == c.official or (c.name == "lua-nginx-module" and c.official.startswith(actual))
            rows.append(Row(c.name, c.official, actual, "present" if actual == "present" else
                            "same" if same else "differs"))
    for kind, name in (("redis", "redis-server"), ("tools", "python3"), ("memcached", "memcached")):
        if kind in facts:
            official = _official_version(OFFICIAL[kind])
            actual = (re.findall(r"(?:v=|Python |memcached )(\d+(?:\.\d+)*)", facts[kind].version) or ["?"])[0]
            rows.append(Row(name, official, actual,
                            "same" if actual == official or actual.startswith(official + ".") else "differs"))
            if kind == "redis":  # Sentinel: redis-server in sentinel mode, as the topologies run it
                sentinel = (re.findall(r"redis-sentinel v=(\d+(?:\.\d+)*)", facts[kind].version) or ["missing"])[0]
                rows.append(Row("redis-sentinel", official, sentinel, "missing" if sentinel == "missing" else
                                "same" if sentinel == official or sentinel.startswith(official + ".") else "differs"))
    return rows


def properties(kind: str, f: ImageFacts) -> dict[str, str]:
    """JUnit ``<properties>`` for one image: ref, id, source, version line, LuaJIT, each component."""
    props = {f"harness.{kind}.image": f.ref, f"harness.{kind}.image_id": f.id, f"harness.{kind}.source": f.source,
             f"harness.{kind}.profile": f.profile,
             f"harness.{kind}.version": f.version.splitlines()[0] if f.version else ""}
    if f.luajit:
        props[f"harness.{kind}.luajit"] = f.luajit
    for name, got in f.components.items():
        props[f"harness.{kind}.component.{name}"] = (got.get("version") or "present") if got.get("present") \
            else "missing"
    return props

