"""Reading a Test::Nginx ``.t`` file: perl runs it with the harness's shim first on ``@INC``, so its
preamble, ``t::Module`` files, preprocessors and ``eval`` sections are Perl's own work; the shim
hands the finished blocks back as JSON (see ``perl/Test/Nginx/Socket.pm``)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from harness.errors import HarnessError
from harness.services import SERVICES

SHIM = Path(__file__).resolve().parent / "perl"
PERL_TIMEOUT = 60.0
# What a suite sees as Test::Nginx's error log file ($Test::Nginx::Util::ErrLogFile). Suites open it
# from Lua (lua-resty-core's t/TestCore.pm points jit.v at it) with io.open(path, "w"), which would
# truncate nginx's own error.log at every reload: they get a file of their own, whose lines the
# block's checks see too (see BlockRunner).
SIDE_LOG_NAME = "testnginx-errlog.log"  # in nginx's logs directory
SIDE_LOG = f"/harness/logs/{SIDE_LOG_NAME}"
ShimOutput = dict[str, Any]  # what the Perl shim wrote for a file: JSON {"settings": ..., "blocks": [...]}

# What the shim puts into $ENV{TEST_NGINX_*} before the file runs: values known only when a
# container starts are harness placeholders, filled in when the config is rendered.
DEFAULT_SERVER_PORT = 1984  # Test::Nginx's, unless TEST_NGINX_SERVER_PORT (or the file) says otherwise
BLOCK_ENV = {
    "TEST_NGINX_HTML_DIR": "/harness/html",  # the block's html/, writable (see lualib/agent.lua)
    "TEST_NGINX_SERVER_ROOT": "/harness",
    # each declared service's variables: TEST_NGINX_REDIS_HOST = ${REDIS_HOST}, ..._MEMCACHED_PORT...
    **{f"TEST_NGINX_{name}": f"${{{name}}}" for service in SERVICES.values() for name in service.env},
    "TEST_NGINX_RESOLVER": "${DNS_SERVER}",
    "TEST_NGINX_NO_SHUFFLE": "1",
    "HARNESS_TNGINX_RESOLVER": "${DNS_SERVER}",
}


class TFileError(HarnessError):
    """A ``.t`` file that perl could not run, or that never hands over its blocks."""


@dataclass(frozen=True)
class Regex:
    """A Perl ``qr//`` from an ``eval`` section."""

    pattern: str
    flags: str = ""

    def compiled(self) -> "re.Pattern[str]":
        flags = 0
        for ch, flag in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
            if ch in self.flags:
                flags |= flag
        return re.compile(perl_to_python(self.pattern), flags)


POSIX_CLASSES = {"ascii": r"\x00-\x7f", "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9",
                 "space": r"\s", "upper": "A-Z", "lower": "a-z", "xdigit": "0-9a-fA-F", "word": r"\w",
                 "punct": r"!-/:-@\[-`{-~", "print": r"\x20-\x7e", "cntrl": r"\x00-\x1f\x7f", "blank": r" \t"}


def perl_to_python(pattern: str) -> str:
    """The few Perl regex spellings Python's ``re`` writes differently (``\\z``, ``\\Z``, ``(?^:``,
    POSIX classes such as ``[:ascii:]`` inside brackets)."""
    out = pattern.replace("(?^", "(?")
    out = re.sub(r"\[:(\w+):\]", lambda m: POSIX_CLASSES.get(m.group(1), m.group(0)), out)
    out = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", out)
    return out


def from_json(value: Any) -> Any:
    """JSON from the shim to Python values: ``{"__re__": ...}`` becomes a :class:`Regex`."""
    if isinstance(value, dict):
        if "__re__" in value:
            return Regex(value["__re__"], value.get("flags", ""))
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


@dataclass(frozen=True)
class RawBlock:
    """A block as the shim handed it over: name, number in the file, its final sections."""

    name: str
    number: int
    sections: Mapping[str, Any]
    error: str = ""

    def has(self, name: str) -> bool:
        return name in self.sections and self.sections[name] is not None


@dataclass(frozen=True)
class TFile:
    path: Path
    root: Path  # the suite's root: where perl ran, $pwd, mounted into the container
    settings: Mapping[str, Any]
    blocks: list[RawBlock] = field(default_factory=list)

    @property
    def repeat_each(self) -> int:
        return max(1, int(self.settings.get("repeat_each") or 1))

    @property
    def skip_all(self) -> Optional[str]:
        return self.settings.get("skip_all")

    @property
    def server_port(self) -> int:
        """The port the blocks' server listens on: Test::Nginx's $ServerPort as the file left it
        (1984, or TEST_NGINX_SERVER_PORT from the environment or the file's BEGIN block)."""
        port = str(self.settings.get("server_port") or "")
        return int(port) if port.isdigit() and 0 < int(port) < 65536 else DEFAULT_SERVER_PORT


def suite_root(path: Path) -> Path:
    """The directory a ``.t`` file's suite runs from: the parent of the nearest ``t/`` above it,
    else the file's own directory."""
    for parent in path.resolve().parents:
        if parent.name == "t":
            return parent.parent
    return path.resolve().parent


def perl_binary() -> str:
    perl = shutil.which("perl")
    if perl is None:
        raise TFileError("perl is not installed: Test::Nginx .t files need it (apt-get install perl, "
                         "or your system's perl package)")
    return perl


def _cache_key(path: Path, root: Path, env: Mapping[str, str]) -> str:
    """What the shim's output depends on: the file, the suite's Perl modules, the shim, the env."""
    h = hashlib.sha256()
    inputs = [path, *sorted(root.glob("t/**/*.pm")), *sorted(SHIM.rglob("*.pm"))]
    for p in inputs:
        st = p.stat()
        h.update(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    h.update(json.dumps(sorted(env.items())).encode())
    return h.hexdigest()[:24]


def load_tfile(path: Path, root: Optional[Path] = None, env: Optional[Mapping[str, str]] = None) -> TFile:
    """Run ``path`` under perl with the shim and return its blocks. The output is kept (in the temp
    directory, by the inputs' names, times and sizes), so pytest-xdist's workers, which collect every
    file each, run perl once per file between them."""
    path = Path(path).resolve()
    root = (root or suite_root(path)).resolve()
    perl = perl_binary()
    run_env = shim_env(root, env)
    cache_dir = Path(tempfile.gettempdir()) / "harness-tnginx-blocks"
    cache_dir.mkdir(exist_ok=True)
    cached = cache_dir / f"{_cache_key(path, root, {k: v for k, v in run_env.items() if k.startswith(('TEST_NGINX_', 'HARNESS_TNGINX_'))})}.json"
    with open(cached.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits for the first one's result
        if cached.exists():
            return _tfile(path, root, json.loads(cached.read_text(encoding="latin-1")))
        data = _run_perl(perl, path, root, run_env)
        partial = cached.with_suffix(f".{os.getpid()}")
        partial.write_text(json.dumps(data), encoding="latin-1")
        os.replace(partial, cached)
    return _tfile(path, root, data)


def shim_env(root: Path, env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The environment perl runs a file of the suite at ``root`` with (the shim first on PERL5LIB)."""
    run_env = {**os.environ, **BLOCK_ENV, **(env or {}), "HARNESS_TNGINX_ERROR_LOG": SIDE_LOG}
    run_env.setdefault("TEST_NGINX_SERVER_PORT", run_env.get("TEST_NGINX_PORT") or str(DEFAULT_SERVER_PORT))
    run_env["PERL5LIB"] = os.pathsep.join(p for p in (str(SHIM), str(root), os.environ.get("PERL5LIB", "")) if p)
    return run_env


def shim_command(perl: str, path: Path) -> list[str]:
    return [perl, f"-I{SHIM}", str(path)]


def _run_perl(perl: str, path: Path, root: Path, env: Mapping[str, str]) -> ShimOutput:
    with tempfile.TemporaryDirectory(prefix="harness-tnginx-") as tmp:
        out = Path(tmp) / "blocks.json"
        run_env = {**env, "HARNESS_TNGINX_OUT": str(out)}
        try:
            proc = subprocess.run(shim_command(perl, path), cwd=root, env=run_env, capture_output=True,
                                  timeout=PERL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TFileError(f"{path}: perl did not finish within {PERL_TIMEOUT:g}s: does the preamble wait "
                             "for something?") from None
        stderr = proc.stderr.decode(errors="replace").strip()
        if proc.returncode != 0 or not out.exists():
            first = next((ln for ln in stderr.splitlines() if ln.strip()), f"exit {proc.returncode}")
            raise TFileError(f"{path}: perl could not run the file: {first}", stderr)
        data: ShimOutput = json.loads(out.read_text(encoding="latin-1"))
        return data


def _tfile(path: Path, root: Path, data: ShimOutput) -> TFile:
    settings = from_json(data["settings"])
    if not settings.get("skip_all") and not int(settings.get("run_tests") or 0):
        raise TFileError(f"{path}: the file never calls run_tests(): the harness runs what run_tests() hands over")
    blocks = [RawBlock(b["name"], int(b["seq_num"]), from_json(b["sections"]), b.get("error") or "")
              for b in data["blocks"]]
    return TFile(path, root, settings, blocks)


def perl_true(value: Any) -> bool:
    """Perl's truth of a value the shim handed over as text: undef, ``""`` and ``"0"`` are false
    (the shim writes a Perl boolean as ``"1"`` / ``"0"``, which Python's ``bool`` would call true; a
    skip_eval's ``system(...) ne 0`` arrives as ``""`` or ``"1"``)."""
    return value is not None and value is not False and str(value) not in ("", "0")


def selected(blocks: list[RawBlock]) -> list[tuple[RawBlock, str]]:
    """Each block with why it is skipped ("" when it runs): ``--- ONLY`` keeps the first block that
    has it, ``--- LAST`` drops what follows, ``--- SKIP`` skips."""
    only = next((b for b in blocks if "ONLY" in b.sections), None)
    out: list[tuple[RawBlock, str]] = []
    for block in blocks:
        if only is not None and block is not only:
            out.append((block, "another block has --- ONLY"))
            continue
        out.append((block, "--- SKIP" if "SKIP" in block.sections else ""))
        if "LAST" in block.sections:
            break
    return out
