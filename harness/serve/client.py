"""The caller's side: ``harness t`` hands its run to a running ``harness serve`` of the same install
(``HARNESS_SERVE=auto``) and prints what the run prints; no server, or a stale one, and it runs in a
process of its own. Standard library and the serve modules only: a served run imports nothing heavy.
Also ``harness serve --stop`` / ``--status`` / ``--detach``'s readiness wait."""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from harness.serve.protocol import connect, fingerprint, log_path, receive, send, socket_path
from harness.serve.settings import ServeSettings

READY_FD = "HARNESS_SERVE_READY_FD"  # a detached server writes `ready` there once it listens
UNSERVED_FLAGS = frozenset({"--watch", "-h", "--help"})  # interactive, or answered at once


def servable(argv: Sequence[str]) -> bool:
    """Whether a server may run ``harness ARGV``: ``harness t`` without --watch or --help."""
    return argv[:1] == ["t"] and not UNSERVED_FLAGS.intersection(argv) and \
        os.environ.get("HARNESS_T_WATCH", "off") != "on"


def pytest_servable(args: Sequence[str]) -> bool:
    """Whether a server may run ``pytest ARGS``: every path given is a ``.t`` file, or a directory of
    them with no Python below it (a server keeps its imports: Python tests and conftest.py files run in
    the caller's own pytest, which reads them as they are now)."""
    paths = [a.split("::", 1)[0] for a in args if not a.startswith("-")]
    if not paths:
        return False
    for given in map(Path, paths):
        if given.is_file() and given.suffix == ".t":
            continue
        if not given.is_dir() or next(given.rglob("*.py"), None) is not None or next(given.rglob("*.t"), None) is None:
            return False
    return True


def server_socket() -> Optional[Path]:
    """The socket a server of this install listens on (HARNESS_SERVE_SOCKET or the default); None when
    ``HARNESS_SERVE=off``. A bad setting is a ValueError naming the variable."""
    settings = ServeSettings.from_sources()
    return socket_path(settings.serve_socket, create=False) if settings.hands_over else None


def hand_over(argv: Sequence[str], program: str = "harness") -> Optional[int]:
    """Run ``harness ARGV`` (``program="pytest"``: ``pytest ARGV``) on the running server, printing its
    output; its exit code, or None when no server takes it (the caller runs it itself)."""
    try:
        sock = server_socket()
    except (ValueError, PermissionError) as exc:
        print(f"harness: not handing the run to harness serve: {exc}", file=sys.stderr)
        return None
    conn = connect(sock) if sock is not None else None
    if conn is None or sock is None:
        return None
    stream = conn.makefile("rwb")
    try:
        send(stream, {"op": "run", "program": program, "argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                      "tty": sys.stdout.isatty(), "fingerprint": fingerprint()})
        while True:
            message = receive(stream)
            if message is None:
                print(f"harness: harness serve stopped during the run (its log: {log_path(sock)})", file=sys.stderr)
                return 2
            if "out" in message:
                sys.stdout.write(message["out"])
                sys.stdout.flush()
            elif "err" in message:
                sys.stderr.write(message["err"])
                sys.stderr.flush()
            elif "queued" in message:
                print(f"harness: harness serve (pid {message['queued']}) is running another run; this one waits "
                      "for it (HARNESS_SERVE=off runs without the server)", file=sys.stderr, flush=True)
            elif "stale" in message:
                successor = start_detached(list(message.get("restart") or []), sock, wait=False)
                print(f"harness: {message['stale']}: it stopped; this run runs in a process of its own, and a new "
                      f"server starts in the background (pid {successor})", file=sys.stderr, flush=True)
                return None
            elif "exit" in message:
                if message.get("served"):
                    print(f"harness serve: {message['served']}", flush=True)
                return int(message["exit"])
    except KeyboardInterrupt:
        return 130  # closing the connection cancels the run on the server
    finally:
        conn.close()


def ask(sock: Path, op: str, timeout: float = 10.0) -> Optional[dict[str, Any]]:
    """A server's answer to ``status`` or ``stop``; None when none listens at ``sock``."""
    conn = connect(sock, timeout=timeout)
    if conn is None:
        return None
    with conn:
        stream = conn.makefile("rwb")
        send(stream, {"op": op})
        return receive(stream)


def start_detached(serve_argv: Sequence[str], sock: Path, wait: bool = True, deadline_s: float = 120.0) -> int:
    """Start ``harness serve ARGS`` in a session of its own, its output in :func:`log_path`; its pid.
    ``wait``: return once it listens, warmed up (it says so on a pipe), else a RuntimeError with its
    log's tail."""
    argv = [a for a in serve_argv if a not in ("--detach", "serve")]
    log = log_path(sock)
    ready_r, ready_w = os.pipe()
    try:
        with open(log, "ab") as out:
            child = subprocess.Popen([sys.executable, "-m", "harness", "serve", *argv], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                     pass_fds=(ready_w,), env={**os.environ, READY_FD: str(ready_w)})
        os.close(ready_w)
        if not wait:
            return child.pid
        readable, _, _ = select.select([ready_r], [], [], deadline_s)
        said = os.read(ready_r, 64) if readable else b""
    finally:
        os.close(ready_r)
    if said.startswith(b"ready"):
        return child.pid
    if not readable:
        child.terminate()
        raise RuntimeError(f"harness serve did not listen within {deadline_s:.0f} s (its log: {log})")
    child.wait(timeout=deadline_s)
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    raise RuntimeError(f"harness serve exited ({child.returncode}) before it listened: {' | '.join(tail)}")
