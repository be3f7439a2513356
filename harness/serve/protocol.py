"""How ``harness t`` and ``harness serve`` talk: where a server listens (one per user and install),
the fingerprint that tells a stale server (the install's files or the Python changed since it
started), and the messages (one JSON object a line, both ways). Standard library only: the caller
reads this before it imports anything heavy.

A run: the caller sends ``{"op": "run", "argv", "cwd", "env", "tty", "fingerprint"}``; the server
answers ``{"out": TEXT}`` / ``{"err": TEXT}`` as the run prints, maybe ``{"queued": PID}`` first (another
run holds the stage), and ``{"exit": CODE}`` last; or ``{"stale": WHY}`` once (and stops). The caller
closing its end cancels the run (Ctrl-C). Besides ``run``: ``status`` and ``stop``."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any, Optional, Protocol

PACKAGE = Path(__file__).resolve().parent.parent  # the installed harness package


def install_id() -> str:
    """Which install this is (its package directory and Python): each has a server of its own."""
    return hashlib.sha256(f"{PACKAGE}\0{sys.executable}".encode()).hexdigest()[:12]


def fingerprint() -> str:
    """The install as it is on disk now: every file of the package (name, size, modification time)
    and the Python running it. A server whose fingerprint differs from its caller's runs old code."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0".encode())
    for root, dirs, names in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            digest.update(f"{os.path.relpath(path, PACKAGE)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def runtime_dir(create: bool = True) -> Path:
    """A directory only this user may use: ``$XDG_RUNTIME_DIR/openresty-harness``, else
    ``/tmp/openresty-harness-UID`` (made mode 0700 when ``create``; refused when another user owns it).
    A caller only looking for a server does not create it."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    path = Path(base) / "openresty-harness" if base else Path(f"/tmp/openresty-harness-{os.getuid()}")
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not path.exists():
        return path
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user (owner uid {info.st_uid}, "
                              f"mode {oct(info.st_mode & 0o777)}): set HARNESS_SERVE_SOCKET to a path of your own")
    return path


def socket_path(configured: str = "", create: bool = True) -> Path:
    """The server's socket: ``configured`` (HARNESS_SERVE_SOCKET), else this install's in :func:`runtime_dir`."""
    return Path(configured).resolve() if configured else runtime_dir(create) / f"serve-{install_id()}.sock"


def log_path(sock: Path) -> Path:
    """Where a detached server writes what it prints."""
    return sock.with_suffix(".log")


class ByteStream(Protocol):
    """A socket's file (``socket.makefile("rwb")``)."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def readline(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


def send(stream: ByteStream, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def receive(stream: ByteStream) -> Optional[dict[str, Any]]:
    """The next message, or None when the other end closed."""
    line = stream.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"not a message: {line[:80]!r}")
    return message


def connect(sock: Path, timeout: Optional[float] = None) -> Optional[socket.socket]:
    """A connection to the server at ``sock``; None when none listens there."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(sock))
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn
