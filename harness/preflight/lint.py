"""luacheck over the app's Lua (module files and inline ``*_by_lua_block`` bodies) with the
``ngx_lua`` standard. Runs in the harness's tools image when it carries luacheck (the offline twin
installs Debian's ``lua-check``), else on this host when ``luacheck`` is on PATH; otherwise the
check says it could not run and how to get luacheck."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from harness.preflight.report import CheckResult, Finding, Verdict
from harness.preflight.source import AppSource, Chunk, phases_of

LUACHECK_ARGS = ("--std", "ngx_lua", "--codes", "--no-color", "--formatter", "plain")
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+)(?:-\d+)?: \((?P<code>[EW]\d+)\) (?P<text>.*)$")
GLOBALS = {"W111": "sets a global", "W112": "changes a global", "W113": "reads an undefined global"}
UNUSED = {"W211", "W213", "W221", "W231", "W311"}  # unused / never-read variables and values
INSTALL_HINT = ("install Debian's lua-check on this host (apt-get install lua-check), or use the harness's "
                "offline tools image, which carries it")

# argv (file names relative to the directory), directory -> (exit, output); None: no luacheck there
Runner = Callable[[list[str], Path], Optional[tuple[int, str]]]


@dataclass(frozen=True)
class LintFile:
    name: str  # file name given to luacheck
    chunk: Chunk


def lint_files(app: AppSource, dest: Path) -> list[LintFile]:
    """Write every chunk as a file under ``dest`` (inline blocks as their own files, lines kept)."""
    out = []
    for index, chunk in enumerate(app.chunks):
        name = chunk.origin if chunk.phase is None or chunk.origin.endswith(".lua") else \
            f"inline/{index:03d}-{chunk.origin.replace('/', '_')}-{chunk.first_line}.lua"
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(chunk.text)
        target.chmod(0o644)
        out.append(LintFile(name, chunk))
    for path in [dest, *dest.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    return out


def host_runner(argv: list[str], cwd: Path) -> Optional[tuple[int, str]]:
    """luacheck on this host's PATH, if any."""
    exe = shutil.which("luacheck")
    if exe is None:
        return None
    done = subprocess.run([exe, *LUACHECK_ARGS, *argv], cwd=cwd, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def parse(output: str, files: list[LintFile], app: AppSource) -> list[Finding]:
    """luacheck's plain lines as findings at the app's file:line: syntax errors fail, globals in
    code that runs in a worker (not only in init_by_lua) and unused variables warn, everything else
    (style) is left out."""
    by_name = {f.name: f.chunk for f in files}
    phases = phases_of(app)
    findings = []
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        chunk = by_name.get(m.group("file").removeprefix("./"))
        where = app.display(chunk.where(int(m.group("line")))) if chunk else m.group("file") + ":" + m.group("line")
        code, text = m.group("code"), m.group("text")
        context = f" in {chunk.phase}_by_lua_block" if chunk is not None and chunk.phase and \
            not chunk.origin.endswith(".lua") else ""
        if code.startswith("E"):
            findings.append(Finding(f"syntax error{context}: {text} ({code})", where, Verdict.FAIL))
        elif code in GLOBALS and not (chunk is not None and phases[str(id(chunk))] == {"init"}):
            findings.append(Finding(f"{text} ({code}){context}: a global in a request phase is shared by every "
                                    f"request on the worker; make it local", where, Verdict.WARN))
        elif code in UNUSED:
            findings.append(Finding(f"{text} ({code}){context}", where, Verdict.WARN))
    return findings


def check_lint(app: AppSource, work: Path, runners: list[tuple[str, Runner]]) -> CheckResult:
    """luacheck over the app's Lua written under ``work``, by the first of ``runners`` (where, how)
    that has luacheck."""
    if not app.chunks:
        return CheckResult("lint", Verdict.OK, "no Lua code to lint")
    files = lint_files(app, work)
    for tool, runner in runners:
        ran = runner([f.name for f in files], work)
        if ran is not None:
            break
    else:
        tried = ", ".join(tool for tool, _ in runners) or "nowhere"
        return CheckResult("lint", Verdict.SKIP, f"luacheck unavailable (looked in: {tried}): not run; {INSTALL_HINT}")
    code, output = ran
    if code > 2:  # 1: warnings, 2: errors in the code; 3 and up: luacheck itself failed
        return CheckResult("lint", Verdict.SKIP, f"luacheck ({tool}) failed to run (exit {code})",
                           detail=output[-2000:])
    findings = parse(output, files, app)
    return CheckResult.from_findings("lint", findings, f"luacheck ({tool}): {len(files)} file(s), no syntax error, "
                                                       f"no global written, no unused variable")
