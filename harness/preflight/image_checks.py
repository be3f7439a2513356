"""Checks that need the app's image: ``nginx -t`` of the rendered config, every ``require`` resolved
by the image's own nginx with the app's Lua paths, and ``ldd`` of every shared object on the cpath
and every nginx module the config loads. One probe container, one exec.

Nothing here knows whether the image is official or the offline twin: the binaries, modules and
library paths all come from the image's :class:`~harness.images.profiles.OpenRestyProfile` and from
the image's nginx itself (``;;`` in a Lua path is expanded by nginx, not guessed here)."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from harness.images.profiles import OpenRestyProfile
from harness.nginx_conf import ROOT, Fixture, host_paths, nginx_t_summary
from harness.preflight.report import CheckResult, Finding, Verdict
from harness.preflight.source import AppSource, requires

WORK = "/tmp/harness-preflight"  # in the probe: world-writable whatever uid owns the copied files
GENERATION = 1
MARK = "@@harness-preflight "
LUA_PATH_DIRECTIVE = re.compile(r"^\s*(lua_package_path|lua_package_cpath)\s+(\"[^\"]*\"|'[^']*'|\S+)\s*;",
                                re.MULTILINE)
LOAD_MODULE = re.compile(r"^\s*load_module\s+(\"[^\"]*\"|'[^']*'|\S+)\s*;", re.MULTILINE)

# Runs in init_by_lua of a one-shot nginx (`nginx -t` skips init_by_lua), i.e. in the image's nginx
# with the app's Lua paths as nginx expands them (;; -> its default path, $prefix). Reports the effective paths and, per
# module, the file that require would load or what it searched (nginx's own wording).
RESOLVE_LUA = r"""
local work = "%(work)s"
local out = assert(io.open(work .. "/modules.out", "w"))
out:write("path\t", package.path, "\n", "cpath\t", package.cpath, "\n")
for name in io.lines(work .. "/modules.txt") do
    if name ~= "" then
        if package.loaded[name] ~= nil or package.preload[name] ~= nil then
            out:write("found\t", name, "\t(loaded by nginx)\n")
        else
            local file, err = package.searchpath(name, package.path)
            local cerr = ""
            if not file then
                file, cerr = package.searchpath(name, package.cpath)
            end
            if not file and name:find(".", 1, true) then
                -- the all-in-one loader: a.b from luaopen_a_b in a.so
                file = package.searchpath(name:match("^[^.]+"), package.cpath)
            end
            if file then
                out:write("found\t", name, "\t", file, "\n")
            else
                local searched = ("no field package.preload['" .. name .. "']" .. err .. (cerr or ""))
                out:write("missing\t", name, "\t", (searched:gsub("\n", "\\n")), "\n")
            end
        end
    end
end
out:close()
os.exit(0)  -- the one-shot nginx has done its job: never open a socket
"""

PROBE_SCRIPT = r"""
w=%(work)s
mkdir -p "$w/prefix/logs"
echo '%(mark)sconfig'
%(nginx)s -p %(root)s/ -c %(conf)s -t 2>&1; echo "%(mark)sconfig-exit $?"
echo '%(mark)sresolve'
%(nginx)s -p "$w/prefix/" -c "$w/resolve.conf" 2>&1; echo "%(mark)sresolve-exit $?"
echo '%(mark)smodules'
cat "$w/modules.out" 2>/dev/null
echo '%(mark)sldd'
if ! command -v ldd >/dev/null 2>&1; then echo "no-ldd"; else
  cpath=$(sed -n 's/^cpath\t//p' "$w/modules.out" 2>/dev/null)
  set -f  # the templates' ? must not glob
  { for t in $(echo "$cpath" | tr ';' ' '); do
      case "$t" in /*) ;; *) continue ;; esac
      d=${t%%%%\?*}
      if [ "$d" = "$t" ]; then [ -f "$t" ] && echo "$t"; continue; fi
      [ -d "$d" ] && find "$d" -maxdepth 4 \( -name '*.so' -o -name '*.so.*' \) \( -type f -o -type l \) 2>/dev/null
    done
    for m in %(modules)s; do echo "$m"; done
    echo %(nginx)s
  } | sort -u | while read -r f; do echo "file $f"; ldd "$f" 2>&1; done
fi
"""


def lua_paths(rendered: str, http_conf: str) -> tuple[str, str]:
    """The ``lua_package_path`` and ``_cpath`` nginx gets: the app's own from http.conf, else the harness's."""
    found: dict[str, str] = {}
    for text in (rendered, http_conf):  # http.conf's win: the harness leaves its own out then
        for m in LUA_PATH_DIRECTIVE.finditer(text):
            found[m.group(1)] = m.group(2).strip("\"'")
    return found.get("lua_package_path", ";;"), found.get("lua_package_cpath", ";;")


def loaded_modules(rendered: str, main_conf: str, profile: OpenRestyProfile) -> list[str]:
    """Absolute paths of the nginx modules the config loads (``load_module``; relative to the prefix's
    parent as nginx resolves them is not guessed: those are listed as written)."""
    paths = [m.group(1).strip("\"'") for text in (rendered, main_conf) for m in LOAD_MODULE.finditer(text)]
    return sorted({p for p in paths if p.startswith("/")} | set(profile.load_modules))


def resolve_conf(profile: OpenRestyProfile, lua_path: str, lua_cpath: str) -> str:
    """The one-shot config whose init_by_lua resolves the modules, then exits nginx."""
    lines = [f"load_module {m};" for m in profile.load_modules]
    lines += ["daemon off;", "master_process off;", f"pid {WORK}/prefix/nginx.pid;", "error_log stderr notice;",
              "events { worker_connections 16; }", "http {",
              f"    lua_package_path \"{lua_path}\";", f"    lua_package_cpath \"{lua_cpath}\";",
              f"    init_by_lua_file {WORK}/resolve.lua;", "}"]
    return "\n".join(lines) + "\n"


def required_modules(app: AppSource) -> dict[str, list[str]]:
    """Module name -> where it is required (app-relative file:line), over the app's Lua."""
    out: dict[str, list[str]] = {}
    for chunk in app.chunks:
        for name, line in requires(chunk):
            out.setdefault(name, []).append(chunk.where(line))
    return out


def write_probe_files(dest: Path, app: AppSource, profile: OpenRestyProfile, bundle_root: Path) -> tuple[Path, str]:
    """The files for the probe (the app's bundle at /harness plus the preflight's own) and its script."""
    gen = bundle_root / "gen" / str(GENERATION)
    rendered = (gen / "nginx.conf").read_text()
    fx = gen / "fixture"
    http_conf = (fx / "http.conf").read_text() if (fx / "http.conf").is_file() else ""
    main_conf = (fx / "main.conf").read_text() if (fx / "main.conf").is_file() else ""
    lua_path, lua_cpath = lua_paths(rendered, http_conf)
    work = dest / WORK.lstrip("/")
    work.mkdir(parents=True, exist_ok=True)
    (work / "resolve.lua").write_text(RESOLVE_LUA % {"work": WORK})
    (work / "resolve.conf").write_text(resolve_conf(profile, lua_path, lua_cpath))
    (work / "modules.txt").write_text("\n".join(sorted(required_modules(app))) + "\n")
    for path in [work, *work.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    script = PROBE_SCRIPT % {"work": WORK, "mark": MARK, "nginx": profile.nginx_bin, "root": ROOT,
                             "conf": f"{ROOT}/gen/{GENERATION}/nginx.conf",
                             "modules": " ".join(shlex.quote(m) for m in loaded_modules(rendered, main_conf, profile))}
    return work, script


def sections(output: str) -> dict[str, str]:
    """The probe's output split at its markers; ``NAME_exit`` holds each step's exit code."""
    parts: dict[str, list[str]] = {}
    current = "preamble"
    codes: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith(MARK):
            name, _, code = line[len(MARK):].strip().partition("-exit ")
            if code:
                codes[f"{name}_exit"] = code.strip()
            else:
                current = name
                parts.setdefault(current, [])
        else:
            parts.setdefault(current, []).append(line)
    return {**{k: "\n".join(v) for k, v in parts.items()}, **codes}


@dataclass
class ImageChecks:
    """Turns the probe's output into the config, modules and native checks."""

    app: AppSource
    fixture: Fixture

    def mapped(self, text: str) -> str:
        """Container paths of the app's files as paths on this host (nginx -t's file:line included)."""
        return host_paths(text, self.fixture, GENERATION)

    def config(self, parts: dict[str, str]) -> CheckResult:
        text = self.mapped(parts.get("config", "").strip())
        if parts.get("config_exit") == "0":
            return CheckResult("config", Verdict.OK, "nginx -t: the configuration is ok")
        summary = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: ", r"\1 ", nginx_t_summary(text))
        return CheckResult("config", Verdict.FAIL, f"nginx -t: {summary}", (Finding(summary, verdict=Verdict.FAIL),),
                           detail=text)

    def modules(self, parts: dict[str, str]) -> CheckResult:
        wanted = required_modules(self.app)
        results: dict[str, tuple[str, str]] = {}
        for line in parts.get("modules", "").splitlines():
            fields = line.split("\t", 2)
            if fields[0] in ("found", "missing") and len(fields) == 3:
                results[fields[1]] = (fields[0], fields[2])
        if wanted and not results:
            resolve = self.mapped(parts.get("resolve", "").strip())
            return CheckResult("modules", Verdict.SKIP, "the image's nginx could not resolve modules: see detail",
                               detail=resolve)
        findings, missing = [], []
        for name, places in sorted(wanted.items()):
            status, info = results.get(name, ("missing", "not resolved"))
            where = self.app.display(places[0])
            if status == "missing":
                searched = self.mapped(info.replace("\\n", "\n"))
                findings.append(Finding(f"module '{name}' not found:\n\t" + searched, where, Verdict.FAIL))
                missing.append((name, where))
            else:
                findings.append(Finding(f"require \"{name}\" loads {self.mapped(info)}", where, Verdict.OK))
        if missing:
            summary = (f"{missing[0][1]}: module {', '.join(name for name, _ in missing)} not found in the image with "
                       f"the app's lua_package_path (searched paths below); fix lua_package_path in http.conf or "
                       f"ship the module")
            return CheckResult("modules", Verdict.FAIL, summary, tuple(findings))
        if not wanted:
            return CheckResult("modules", Verdict.OK, "no require in the app's Lua")
        return CheckResult("modules", Verdict.OK, f"{len(wanted)} module(s) required, all resolve in the image",
                           tuple(findings))

    def native(self, parts: dict[str, str]) -> CheckResult:
        text = parts.get("ldd", "")
        if text.strip() == "no-ldd":
            return CheckResult("native", Verdict.SKIP, "ldd is not in the image: shared objects not checked")
        findings, files, current = [], 0, ""
        for line in text.splitlines():
            if line.startswith("file "):
                current, files = line[5:], files + 1
            elif "=> not found" in line:
                lib = line.split("=>")[0].strip()
                findings.append(Finding(f"{self.mapped(current)} needs {lib} => not found: install the library in "
                                        f"the image or put it on the loader's path (ldconfig / LD_LIBRARY_PATH)",
                                        verdict=Verdict.FAIL))
        summary = f"ldd: {files} shared object(s) and nginx modules, every library found"
        if not findings:
            return CheckResult("native", Verdict.OK, summary)
        return CheckResult.from_findings("native", findings, summary)
