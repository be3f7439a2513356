"""Checks that read the app only: shared dicts used vs declared, and calls that block the worker."""
from __future__ import annotations

from typing import Optional

from harness.preflight.lua_tokens import Token, dotted, is_op
from harness.preflight.report import CheckResult, Finding, Verdict
from harness.preflight.source import AppSource, Chunk, phases_of, requires

HARNESS_DICTS = {"harness_control"}  # the harness's own (nginx_conf)
# Phases where lua-nginx-module disables ngx.sleep ("API disabled in the context of ...").
NO_SLEEP_PHASES = {"set", "header_filter", "body_filter", "log", "init", "init_worker", "exit_worker", "balancer",
                   "ssl_session_store"}
LOG_PHASE_NOTE = ("the log phase runs after the response is sent, but still on the worker's only thread: "
                  "every other request on that worker waits")


# ---- shared dicts -------------------------------------------------------------------------------
def _constants(tokens: list[Token]) -> dict[str, str]:
    """``NAME = "text"`` (local or not) with a single string literal: names built from constants."""
    out: dict[str, str] = {}
    for i in range(len(tokens) - 2):
        a, eq, s = tokens[i], tokens[i + 1], tokens[i + 2]
        if a.kind == "name" and is_op(eq, "=") and s.kind == "string":
            nxt = tokens[i + 3] if i + 3 < len(tokens) else None
            if nxt is None or not is_op(nxt, ".."):
                out[a.value] = s.value
    return out


def _index_expr(tokens: list[Token], start: int, constants: dict[str, str]) -> tuple[Optional[str], int]:
    """Evaluate ``[ "a" .. NAME ]`` from ``start`` (the ``[``): the string, or None if not constant."""
    parts: list[Optional[str]] = []
    j, depth = start + 1, 0
    while j < len(tokens):
        tok = tokens[j]
        if is_op(tok, "]") and depth == 0:
            break
        if is_op(tok, "[") or is_op(tok, "("):
            depth += 1
        elif is_op(tok, ")"):
            depth -= 1
        if depth == 0 and not is_op(tok, ".."):
            value = tok.value if tok.kind == "string" else constants.get(tok.value) if tok.kind == "name" else None
            parts.append(value)
        j += 1
    if not parts or any(p is None for p in parts):
        return None, j
    return "".join(p for p in parts if p is not None), j


def shared_dict_uses(chunk: Chunk) -> tuple[list[tuple[str, int]], list[int]]:
    """``(name, line)`` of every ``ngx.shared.NAME`` / ``ngx.shared["NAME"]`` (also through a local
    alias of ``ngx.shared`` and names built from string constants), and lines of dynamic uses."""
    toks = chunk.tokens
    constants = _constants(toks)
    aliases = {"ngx.shared"}
    for i in range(len(toks) - 2):
        if toks[i].kind == "name" and is_op(toks[i + 1], "="):
            name, after = dotted(toks, i + 2)
            indexed = after < len(toks) and (is_op(toks[after], ".") or is_op(toks[after], "["))
            if name == "ngx.shared" and not indexed:
                aliases.add(toks[i].value)
    uses, dynamic = [], []
    i = 0
    while i < len(toks):
        name, after = dotted(toks, i)
        if not name:
            i += 1
            continue
        for alias in aliases:
            if name.startswith(alias + ".") and name != alias:
                uses.append((name[len(alias) + 1:].split(".")[0], toks[i].line))
                break
            if name == alias and after < len(toks) and is_op(toks[after], "["):
                value, end = _index_expr(toks, after, constants)
                if value is None:
                    dynamic.append(toks[i].line)
                else:
                    uses.append((value, toks[i].line))
                after = end
                break
        i = max(after, i + 1)
    return uses, dynamic


def check_shared_dicts(app: AppSource) -> CheckResult:
    declared: dict[str, str] = {}
    findings: list[Finding] = []
    for d in app.directives:
        if d.name == "lua_shared_dict":
            name = d.args.split()[0] if d.args.split() else ""
            declared.setdefault(name, app.display(d.where))
    used: dict[str, list[str]] = {}
    dynamic: list[str] = []
    for chunk in app.chunks:
        uses, dyn = shared_dict_uses(chunk)
        for name, line in uses:
            used.setdefault(name, []).append(app.display(chunk.where(line)))
        dynamic += [app.display(chunk.where(line)) for line in dyn]
    for name, places in sorted(used.items()):
        if name not in declared and name not in HARNESS_DICTS:
            findings.append(Finding(
                f"ngx.shared.{name} is used but no lua_shared_dict declares it: it is nil at request time "
                f"(\"attempt to index ... (a nil value)\"); add `lua_shared_dict {name} 1m;` to http.conf",
                places[0], Verdict.FAIL))
            findings += [Finding(f"ngx.shared.{name} used here too", p, Verdict.FAIL) for p in places[1:3]]
    for name, where in sorted(declared.items()):
        if name not in used and not dynamic:
            findings.append(Finding(f"lua_shared_dict {name} is declared but no Lua code here uses it "
                                    f"(memory reserved for nothing?)", where, Verdict.WARN))
    for where in dynamic:
        findings.append(Finding("ngx.shared[...] with a name computed at run time: not checked", where, Verdict.OK))
    ok = (f"{len(used)} used, {len(declared)} declared, all match" if used or declared
          else "no shared dict used or declared")
    return CheckResult.from_findings("shared_dicts", findings, ok)


# ---- blocking calls -----------------------------------------------------------------------------
def _loop_body_escapes(toks: list[Token], start: int) -> tuple[bool, int]:
    """From the token after ``do``/``repeat``: whether the loop body can leave or yield (break,
    return, goto, error, ngx.sleep, a cosocket or coroutine call) and where the body ends."""
    depth, j, escapes = 0, start, False
    while j < len(toks):
        tok = toks[j]
        if tok.kind == "keyword":
            if tok.value in ("do", "function", "repeat", "if"):
                depth += 1
            elif tok.value in ("end", "until"):
                if depth == 0:
                    return escapes, j
                depth -= 1
            elif tok.value in ("break", "return", "goto"):
                escapes = True
        elif tok.kind == "name":
            name, _ = dotted(toks, j)
            if name in ("error", "ngx.sleep", "ngx.exit", "coroutine.yield", "ngx.thread.wait") or \
                    (j > 0 and is_op(toks[j - 1], ":") and tok.value in ("receive", "send", "connect", "read")):
                escapes = True
        j += 1
    return escapes, j


def blocking_calls(chunk: Chunk, phases: set[str]) -> list[Finding]:
    """Blocking calls and never-ending loops in one chunk, given the phases it can run in."""
    toks = chunk.tokens
    request_side = phases != {"init"}  # init_by_lua runs in the master before any worker exists
    found: list[Finding] = []
    where_phase = (f" in {', '.join(f'{p}_by_lua' for p in sorted(phases))}" if phases else "")
    log_note = f"; {LOG_PHASE_NOTE}" if "log" in phases else ""
    for i, tok in enumerate(toks):
        if tok.kind == "name" and not (i > 0 and is_op(toks[i - 1], ".")):
            name, after = dotted(toks, i)
            if name == "os.execute" and request_side:
                arg = toks[after + 1] if after + 1 < len(toks) and is_op(toks[after], "(") else \
                    (toks[after] if after < len(toks) else None)
                if arg is not None and arg.kind == "string" and arg.value.lstrip().startswith("sleep"):
                    found.append(Finding(f"os.execute(\"{arg.value.strip()}\") sleeps by blocking the whole worker"
                                         f"{where_phase}: use ngx.sleep (it yields) or ngx.timer.at{log_note}",
                                         chunk.where(tok.line)))
                else:
                    found.append(Finding(f"os.execute blocks the worker until the command exits{where_phase}: "
                                         f"use ngx.pipe (lua-resty-shell) or move it out of the request{log_note}",
                                         chunk.where(tok.line)))
            elif name == "io.popen" and request_side:
                found.append(Finding(f"io.popen blocks the worker while the command runs{where_phase}: use ngx.pipe "
                                     f"(lua-resty-shell){log_note}", chunk.where(tok.line)))
            elif name == "ngx.sleep" and phases and phases <= NO_SLEEP_PHASES:
                found.append(Finding(f"ngx.sleep is disabled{where_phase} (\"API disabled in the context of ...\"): "
                                     f"do the waiting in ngx.timer.at(0, ...) instead{log_note}",
                                     chunk.where(tok.line)))
        if tok.kind == "keyword" and tok.value == "while" and i + 2 < len(toks) \
                and toks[i + 1].kind == "keyword" and toks[i + 1].value == "true" and toks[i + 2].value == "do":
            escapes, _ = _loop_body_escapes(toks, i + 3)
            if not escapes and request_side:
                found.append(Finding(f"`while true do` with no break, return or yielding call never gives the "
                                     f"worker back to its event loop{where_phase}{log_note}", chunk.where(tok.line)))
    for name, line in requires(chunk):
        if (name == "socket" or name.startswith("socket.")) and request_side:
            found.append(Finding(f"require \"{name}\": LuaSocket blocks the worker on every network call"
                                 f"{where_phase}: use cosockets (ngx.socket.tcp, lua-resty-http){log_note}",
                                 chunk.where(line)))
    return found


def check_blocking(app: AppSource) -> CheckResult:
    phases = phases_of(app)
    findings: list[Finding] = []
    for chunk in app.chunks:
        for f in blocking_calls(chunk, phases[str(id(chunk))]):
            findings.append(Finding(f.message, app.display(f.where), Verdict.WARN))
    findings.sort(key=lambda f: ("log_by_lua" not in f.message, f.where))  # the log phase first
    return CheckResult.from_findings("blocking", findings,
                                     f"no blocking call found in {len(app.chunks)} Lua chunk(s)")
