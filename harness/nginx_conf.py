"""Fixtures (a directory of nginx snippets and Lua code) and the complete nginx.conf rendered from them.

A fixture directory holds any of ``main.conf`` (main context), ``http.conf`` (http context),
``server.conf`` (the body of the default server on port 8080) and ``lua/`` (put first on
``lua_package_path``). Config snippets may name ``${PLACEHOLDERS}`` (upper case) that the harness
fills in, such as ``${REDIS_HOST}`` or ``${FIXTURE_DIR}``; nginx's own ``$variables`` are left alone.
A fixture whose http.conf sets ``lua_package_path`` (or ``_cpath``) keeps its own; one that sets
``init_worker_by_lua`` keeps its own too and should call the harness heartbeat from it
(``dofile("${HARNESS_LUALIB}/heartbeat.lua").start()``) so error.log checks can settle.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Optional, Sequence

from harness.errors import ConfigTemplateError, FixtureNotFound, PortTaken
from harness.images.profiles import OpenRestyProfile
from harness.resources import shipped

ROOT = "/harness"  # nginx prefix inside the container
# under ROOT: the server's writable html directory (ROOT/html links to it; lualib/agent.lua); its own
# name is html, as under Test::Nginx, because ngx_lua reports real paths and suites match ".../html/..."
WWW = "srv/html"
# fixture files to be written at their absolute path in the container (a Test::Nginx block's user file
# named /tmp/x.conf): FIXTURE/__absolute__/tmp/x.conf, copied to / when its generation becomes current
ABSOLUTE_FILES = "__absolute__"
CONF = f"{ROOT}/conf/nginx.conf"
ERROR_LOG = f"{ROOT}/logs/error.log"
ACCESS_LOG = f"{ROOT}/logs/access.log"
PID_FILE = f"{ROOT}/logs/nginx.pid"
ACTIVATE = f"{ROOT}/bin/activate"
HTTP_PORT = 8080
CONTROL_PORT = 9901
COMPANION_PORT = 9902  # the API of a container's network-namespace companion (containers/companion.py)
CONTROL_PATH = "/__harness/ready"
GENERATION_PATH = "/__harness/generation"  # readiness without Lua, for quiet fixtures
LOG_PATH = "/__harness/log"
LUALIB = f"{ROOT}/lualib"  # the harness's own Lua (heartbeat, control server), ``${HARNESS_LUALIB}``
LUALIB_SOURCE = shipped("harness", "lualib")
COVERAGE_DIR = f"{ROOT}/coverage"  # where the workers' line counts go (lualib/coverage.lua)
CONFIG_ERROR_EXIT = 78  # EX_CONFIG: ``nginx -t`` rejected the configuration
RELOAD_STUCK_EXIT = 75  # EX_TEMPFAIL: old workers kept accepting after a HUP
LUA_SYNTAX_EXIT = 65  # EX_DATAERR: a fixture Lua file does not compile
SNIPPETS = ("main.conf", "http.conf", "server.conf")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@dataclass(frozen=True)
class Fixture:
    """A fixture app: config snippets plus files (Lua modules and anything else it ships)."""

    name: str
    snippets: Mapping[str, str]  # file name -> text, for the SNIPPETS present
    files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> content (lua/..., data)
    source: Optional[Path] = None  # host directory, for error messages
    embed: bool = False  # write the snippets into nginx.conf itself, as Test::Nginx does (Lua chunk
    # names then read "content_by_lua(nginx.conf:LINE)"), instead of including them
    lines: Mapping[str, int] = field(default_factory=dict)  # embed only: the line of nginx.conf each
    # snippet starts on (Test::Nginx's layout), the harness's own lines before it squeezed to fit
    port: int = HTTP_PORT  # the default server's port (a `.t` block's: Test::Nginx's server port, 1984)
    quiet: bool = False  # no harness Lua in the workers (no heartbeat; where the agent runs, the harness
    # reads error.log and the process table through it): the workers' Lua VM and JIT are the fixture's
    filled: tuple[str, ...] = ()  # files whose ${NAME} placeholders are filled as the snippets' (known
    # names only: a Test::Nginx user file that names $TEST_NGINX_MEMCACHED_PORT, say)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], search_path: Sequence[Path] = ()) -> "Fixture":
        """Load ``nginx-fixtures/NAME`` (first match on ``search_path``) or a directory path."""
        candidate = Path(name_or_path)
        directory: Optional[Path] = None
        if candidate.is_dir():
            directory = candidate
        elif not candidate.is_absolute() and len(candidate.parts) == 1:
            directory = next((base / candidate for base in search_path if (base / candidate).is_dir()), None)
        if directory is None and (candidate.is_absolute() or len(candidate.parts) > 1):
            raise FixtureNotFound(
                f"app directory {str(name_or_path)!r} does not exist: pass the path of a directory with "
                f"server.conf or http.conf, or a fixture name")
        if directory is None:
            where = ", ".join(f"{p}{'' if p.is_dir() else ' (missing)'}" for p in search_path) or "."
            raise FixtureNotFound(
                f"fixture {str(name_or_path)!r} not found (looked in {where}): create nginx-fixtures/"
                f"{candidate.name}/server.conf or pass a directory path")
        snippets = {n: (directory / n).read_text() for n in SNIPPETS if (directory / n).is_file()}
        if "http.conf" not in snippets and "server.conf" not in snippets:
            raise FixtureNotFound(
                f"fixture {directory} has neither http.conf nor server.conf: add the config to test")
        files = {}
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory).as_posix()
            if path.is_file() and rel not in SNIPPETS and not rel.startswith(".") and "__pycache__" not in rel:
                files[rel] = path.read_bytes()
        return cls(name=directory.name, snippets=snippets, files=files, source=directory.resolve())

    @classmethod
    def inline(cls, name: str = "inline", *, config: str = "", http_config: str = "", main_config: str = "",
               lua: Optional[Mapping[str, str]] = None) -> "Fixture":
        """A fixture declared in the test itself, Test::Nginx style (``config`` is the server body)."""
        snippets = {k: v for k, v in (("main.conf", main_config), ("http.conf", http_config),
                                      ("server.conf", config)) if v}
        files = {f"lua/{path}": text.encode() for path, text in (lua or {}).items()}
        return cls(name=name, snippets=snippets, files=files)

    def with_snippets(self, *, main_conf: Optional[str] = None, http_conf: Optional[str] = None,
                      server_conf: Optional[str] = None) -> "Fixture":
        """A copy with snippets replaced or added: the healthy twin of a faulty fixture, say."""
        snippets = dict(self.snippets)
        for name, text in (("main.conf", main_conf), ("http.conf", http_conf), ("server.conf", server_conf)):
            if text is not None:
                snippets[name] = text
        return replace(self, snippets=snippets)

    def digest(self) -> str:
        h = hashlib.sha256((b"embed\0" if self.embed else b"") + (b"quiet\0" if self.quiet else b""))
        for key in sorted(self.lines):
            h.update(f"{key}@{self.lines[key]}\0".encode())
        for key in sorted(self.snippets):
            h.update(key.encode() + b"\0" + self.snippets[key].encode() + b"\0")
        for key in sorted(self.files):
            h.update(key.encode() + b"\0" + self.files[key] + b"\0")
        return h.hexdigest()[:12]


def check_ports(text: str, filename: str) -> None:
    """A fixture must not listen on the harness's control port (its requests would go to the fixture)."""
    for match in re.finditer(rf"^\s*listen\s+(?:\S*:)?{CONTROL_PORT}\b", text, re.MULTILINE):
        line = text.count("\n", 0, match.start()) + 1
        raise PortTaken(f"{filename}:{line}: port {CONTROL_PORT} is taken by the harness's control server: "
                        f"listen on another port (ports=(...) exposes it)")


def fill_placeholders(text: str, values: Mapping[str, str], filename: str) -> str:
    """Replace ``${NAME}``; an unknown upper-case placeholder is an error naming file and line."""
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            line = text.count("\n", 0, match.start()) + 1
            known = ", ".join(sorted(values)) or "none"
            raise ConfigTemplateError(
                f"{filename}:{line}: unknown placeholder ${{{key}}}: pass it in env= or use one of: {known}")
        return str(values[key])
    return PLACEHOLDER.sub(sub, text)


@dataclass(frozen=True)
class RenderOptions:
    workers: int | str = 1
    worker_connections: int = 1024
    error_log_level: str = "info"
    env_names: tuple[str, ...] = ()
    placeholders: Mapping[str, str] = field(default_factory=dict)
    coverage: tuple[str, ...] = ()  # Lua patterns of the chunk names to count lines of (empty: no coverage)


def fixture_dir(generation: int) -> str:
    """Where a generation's fixture files are in the container (``${FIXTURE_DIR}`` in snippets)."""
    return f"{ROOT}/gen/{generation}/fixture"


def render_nginx_conf(fixture: Fixture, profile: OpenRestyProfile, generation: int,
                      options: RenderOptions = RenderOptions(), filled: Optional[Mapping[str, str]] = None) -> str:
    """The whole nginx.conf for one generation; fixture snippets are included from its directory
    (or, for an ``embed`` fixture, written in place from ``filled``: the snippets, placeholders filled)."""
    fx = fixture_dir(generation)

    placed = [0]  # out[:placed] ends with the last snippet written in place

    def snippet(name: str, indent: str) -> None:
        if not (fixture.embed and filled is not None):
            out.append(f"{indent}include {fx}/{name};")
            return
        at = fixture.lines.get(name)
        if at:
            if len(out) >= at:  # the harness's lines since the last snippet, on one line (no comments)
                own = [ln.strip() for ln in out[placed[0]:] if ln.strip() and not ln.lstrip().startswith("#")]
                out[placed[0]:] = [" ".join(own)] if own else []
            out.extend([""] * (at - 1 - len(out)))
        out.extend(filled[name].rstrip("\n").split("\n"))
        placed[0] = len(out)
    lua_path = ";".join([f"{fx}/lua/?.lua", f"{fx}/lua/?/init.lua", *profile.lua_path]) + ";;"
    lua_cpath = ";".join([f"{fx}/lua/?.so", *profile.lua_cpath]) + ";;"
    out: list[str] = [f"# rendered by openresty-harness: fixture {fixture.name}, generation {generation}"]
    out += [f"load_module {m};" for m in profile.load_modules]
    out += [
        f"worker_processes {options.workers};",
        "daemon off;",
        "master_process on;",
        f"pid {PID_FILE};",
        f"error_log {ERROR_LOG} {options.error_log_level};",
    ]
    out += [f"env {name};" for name in options.env_names]
    if "main.conf" in fixture.snippets:
        snippet("main.conf", "")
    out += [
        "http {",
        f"    include {profile.mime_types};",
        "    log_format harness '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '",
        "                       'rt=$request_time pid=$pid conn=$connection';",
        f"    access_log {ACCESS_LOG} harness;",
    ]
    # A fixture that sets its own Lua paths keeps them (nginx allows each directive once per http{}).
    http_conf = fixture.snippets.get("http.conf", "")
    # named as Test::Nginx names them (suites match ".../client_body_temp/" in what ngx_lua reports); a
    # fixture's own (proxy_temp_path in a block's http_config) takes the place of ours, as under Test::Nginx
    out += [f"    {kind}_temp_path {ROOT}/tmp/{kind}_temp;" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            if not re.search(rf"\b{kind}_temp_path\b", http_conf)]
    if not re.search(r"(?:^|[;{}])\s*default_type\s", http_conf, re.MULTILINE):
        out.append("    default_type application/octet-stream;")
    if not re.search(r"(?:^|[;{}])\s*lua_package_path\s", http_conf, re.MULTILINE):
        out.append(f"    lua_package_path \"{lua_path}\";")
    if not re.search(r"(?:^|[;{}])\s*lua_package_cpath\s", http_conf, re.MULTILINE):
        out.append(f"    lua_package_cpath \"{lua_cpath}\";")
    out.append("    lua_shared_dict harness_control 1m;")
    own_init_worker = re.search(r"(?:^|[;{}])\s*init_worker_by_lua", http_conf, re.MULTILINE)
    if not own_init_worker and not (fixture.quiet and not options.coverage):
        started = [] if fixture.quiet else [f"dofile(\"{LUALIB}/heartbeat.lua\").start()"]
        started += [coverage_start(options.coverage)] if options.coverage else []
        out.append(f"    init_worker_by_lua_block {{ {'; '.join(started)} }}")
    if options.coverage and not re.search(r"(?:^|[;{}])\s*init_by_lua", http_conf, re.MULTILINE):
        out.append(f"    init_by_lua_block {{ {coverage_start(options.coverage, 'init')} }}")
    if options.coverage and not re.search(r"(?:^|[;{}])\s*exit_worker_by_lua", http_conf, re.MULTILINE):
        out.append("    exit_worker_by_lua_block { local c = package.loaded[\"harness.coverage\"] if c then c.flush() end }")
    if "http.conf" in fixture.snippets:
        snippet("http.conf", "    ")
    out += [
        "    # the harness's own server: readiness, config generation, error.log reads (lualib/control.lua)",
        "    server {",
        f"        listen {CONTROL_PORT};",
        "        access_log off;",
        f"        set $harness_generation {generation};",
        f"        set $harness_error_log {ERROR_LOG};",
        "        location /__harness/ {",
        "            # the fixture's http-level Lua phases must not run on the harness's own requests",
        "            rewrite_by_lua_block { return }",
        "            access_by_lua_block { return }",
        "            header_filter_by_lua_block { return }",
        "            body_filter_by_lua_block { return }",
        "            log_by_lua_block { return }",
        f"            content_by_lua_file {LUALIB}/control.lua;",
        "        }",
        f"        location = {GENERATION_PATH} {{",
        "            # readiness with no Lua run: a block's first request finds its worker as nginx",
        "            # started it (no cached Lua thread, no coroutine of ours); `return` ends the request",
        "            # before any rewrite_by_lua or access_by_lua, and filters of the fixture's are shut off",
        *(f"            {phase}_by_lua_block {{ return }}" for phase in ("header_filter", "body_filter", "log")
          if re.search(rf"\b{phase}_by_lua", http_conf)),
        "            return 200 '{\"generation\":$harness_generation,\"nginx_version\":\"$nginx_version\"}';",
        "        }",
        "    }",
        "    server {",
        f"        listen {fixture.port} default_server;",
        "        server_name localhost;",
    ]
    if "server.conf" in fixture.snippets:
        snippet("server.conf", "        ")
    out += [
        "    }",
        "}",
        # events{} last, as under Test::Nginx: a block left open in a snippet then meets it inside
        # http{} and nginx names it ("events" directive is not allowed here), as suites expect
        "events {",
        f"    worker_connections {options.worker_connections};",
        "}",
    ]
    return "\n".join(out) + "\n"


def coverage_start(patterns: Sequence[str], phase: str = "init_worker") -> str:
    """The Lua that starts line counting in ``init_worker_by_lua`` (a worker), or in ``init_by_lua``
    (the master: what it runs there is counted once, see lualib/coverage.lua)."""
    listed = ", ".join(f"[==[{p}]==]" for p in patterns)
    call = "start_master" if phase == "init" else "start"
    module = f"(package.loaded[\"harness.coverage\"] or dofile(\"{LUALIB}/coverage.lua\"))"  # the master's, inherited
    return f"{module}.{call}(\"{COVERAGE_DIR}\", {{ {listed} }})"


def with_coverage_start(http_conf: str, patterns: Sequence[str]) -> str:
    """A fixture's own ``init_by_lua_block`` and ``init_worker_by_lua_block`` with line counting
    started first, on the same line (its line numbers stay); the other forms of these directives are
    left alone (what they run is not counted)."""
    for phase in ("init", "init_worker"):
        http_conf = re.sub(rf"(?<![\w]){phase}_by_lua_block\s*\{{",
                           lambda m: f"{m.group(0)} {coverage_start(patterns, phase)};", http_conf, count=1)
    return http_conf


ACTIVATE_SCRIPT = """#!/bin/sh
# activate GEN start|reload: compile generation GEN's Lua files, test its config with nginx -t,
# make it current, then start nginx (start) or HUP the running master (reload). A reload returns
# once every worker of the old generation has stopped accepting (within 10 s) and exited (within
# 2 s more), and prints "retired MASTER PID...". Exit {lua_code} on a Lua syntax error, {code} when nginx -t fails, {stuck} when old workers
# keep accepting. Where the host made /harness/ctl, start also starts the agent (lualib/agent.lua),
# which does reloads without this script (and without nginx -t unless the master rejects one).
gen={root}/gen/$1
mkdir -p {root}/conf {root}/logs {root}/tmp {root}/coverage
# line counts of --harness-coverage, written by the workers (whatever their user)
chmod 1777 {root}/coverage
agent="{luajit} {lualib}/agent.lua {root} {nginx}"
# Lua files first: LuaJIT's own parser finds syntax errors, with file and line, before start.
$agent check "$1" || exit {lua_code}
# A USR1 (log rotation) hands the log files to the workers' user; the master, root without
# DAC_OVERRIDE, must own them again to open them for nginx -t and the reload (CHOWN it has).
chown 0 {root}/logs/*.log 2>/dev/null
# A fixture's html/ becomes the server's html directory, as the agent's reloads do (agent.lua).
$agent html "$1" || exit 1
# nginx -t reads the config where the master will, so that relative includes resolve alike.
cp "$gen/nginx.conf" {conf}
if ! out=$({nginx} -p {root}/ -c {conf} -t 2>&1); then
    printf '%s\\n' "$out" >&2
    exit {code}
fi
accepting_workers() {{
    for d in /proc/[0-9]*; do
        c=$(tr '\\000' ' ' < "$d/cmdline" 2>/dev/null) || continue
        case "$c" in *"shutting down"*) ;; *"nginx: worker process"*) echo "${{d#/proc/}}" ;; esac
    done
}}
case "$2" in
    start)
        [ -p {root}/ctl/in ] && $agent &
        exec {nginx} -p {root}/ -c {conf} ;;
    reload)
        old=$(accepting_workers)
        kill -HUP "$(cat {pid})" || exit 1
        deadline=$(( $(date +%s) + 10 ))
        while [ "$(date +%s)" -le "$deadline" ]; do
            now=" $(accepting_workers | tr '\\n' ' ') "
            left=""
            for p in $old; do case "$now" in *" $p "*) left="$left $p" ;; esac; done
            [ -z "$left" ] && break
            sleep 0.01
        done
        if [ -n "$left" ]; then
            echo "old workers still accepting 10 s after HUP:$left" >&2
            exit {stuck}
        fi
        # then until they exited, so that none of their lines reaches the next test's view
        for i in $(seq 200); do
            left=""
            for p in $old; do
                s=$(cat /proc/$p/stat 2>/dev/null) && case "$s" in *") Z "*) ;; *) left="$left $p" ;; esac
            done
            [ -z "$left" ] && break
            sleep 0.01
        done
        echo "retired $(cat {pid})" $old
        exit 0 ;;
esac
"""


def write_bundle(dest: Path, fixture: Fixture, profile: OpenRestyProfile, generation: int,
                 options: RenderOptions = RenderOptions()) -> Path:
    """Write the tree that goes to ``/harness`` in the container under ``dest/harness``; return it."""
    root = dest / "harness"
    if root.exists():
        shutil.rmtree(root)
    for d in (root / "conf", root / "logs", root / "tmp", root / "bin"):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copytree(LUALIB_SOURCE, root / "lualib")
    write_generation(root / "gen" / str(generation), fixture, profile, generation, options)
    script = root / "bin" / "activate"
    script.write_text(ACTIVATE_SCRIPT.format(root=ROOT, nginx=profile.nginx_bin, conf=CONF, pid=PID_FILE,
                                             luajit=profile.luajit_bin, lualib=LUALIB, code=CONFIG_ERROR_EXIT,
                                             lua_code=LUA_SYNTAX_EXIT, stuck=RELOAD_STUCK_EXIT))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path == script else 0o644)
    return root


def write_generation(gen: Path, fixture: Fixture, profile: OpenRestyProfile, generation: int,
                     options: RenderOptions = RenderOptions()) -> Path:
    """Write one generation (``gen/N``: its nginx.conf and the fixture's files) into ``gen``, readable
    by the workers; what a switch adds to a running container."""
    fx = gen / "fixture"
    fx.mkdir(parents=True, exist_ok=True)
    filled = {}
    for name, text in fixture.snippets.items():
        check_ports(text, name if fixture.source is None else str(fixture.source / name))
        filled[name] = fill_placeholders(
            text, {"FIXTURE_DIR": fixture_dir(generation), "HARNESS_LUALIB": LUALIB, **options.placeholders}, name)
        if name == "http.conf" and options.coverage:
            filled[name] = with_coverage_start(filled[name], options.coverage)
        (fx / name).write_text(filled[name])
    values = {"FIXTURE_DIR": fixture_dir(generation), "HARNESS_LUALIB": LUALIB, **options.placeholders}
    for rel, content in fixture.files.items():
        target = fx / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in fixture.filled:
            content = PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))),
                                      content.decode("latin-1")).encode("latin-1")
        target.write_bytes(content)
    (gen / "nginx.conf").write_text(render_nginx_conf(fixture, profile, generation, options, filled))
    for path in [gen, *gen.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return gen


def nginx_t_summary(output: str) -> str:
    """The line of ``nginx -t`` output that says what is wrong (its first emerg/error/alert line)."""
    lines = output.splitlines()
    return next((ln for ln in lines if "[emerg]" in ln or "[error]" in ln or "[alert]" in ln),
                lines[0] if lines else "no output").strip()


def host_paths(message: str, fixture: Fixture, generation: int) -> str:
    """Rewrite container paths of the fixture in nginx messages into the host's fixture path."""
    container_dir = fixture_dir(generation)
    if fixture.source is None:
        return message.replace(container_dir, f"<{fixture.name}>")
    return message.replace(container_dir, str(fixture.source))
