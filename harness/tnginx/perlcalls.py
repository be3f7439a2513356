"""Sections a ``.t`` file gives as Perl subs (``--- udp_reply eval: sub { ... }``, ``tcp_reply`` too):
Test::Nginx calls them at run time with what the mock peer received. The harness does the same: one
perl process per file runs it with the shim in call mode (preamble, filters and preprocessors as when
the file was read) and answers each call (see ``_serve_calls`` in perl/Test/Nginx/Socket.pm)."""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import IO, Mapping, Optional, Protocol

from harness.errors import HarnessError
from harness.tnginx.load import perl_binary, shim_command, shim_env

CALL_TIMEOUT = 30.0  # seconds perl may take to start, read the file and answer one call


class PerlCallError(HarnessError):
    """A Perl sub of a section could not be called (it died, or perl went away)."""


class PerlCalls:
    """``PerlCalls(path, root, env).call(seq, section, query)``: the sub's answer, as pieces (one for
    a string, one per item of an array). Thread-safe (one call at a time); :meth:`close` ends perl."""

    def __init__(self, path: Path, root: Path, env: Optional[Mapping[str, str]] = None) -> None:
        self.path, self.root, self.env = Path(path), Path(root), dict(env or {})
        self.lock = threading.Lock()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.answers: Optional[IO[bytes]] = None

    def start(self) -> None:
        """Start perl now (it reads the file before the first call comes)."""
        with self.lock:
            self._start()

    def _start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                shim_command(perl_binary(), self.path), cwd=self.root, stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write,),
                env={**shim_env(self.root, self.env), "HARNESS_TNGINX_CALLS": str(write)})
        finally:
            os.close(write)
        self.answers = os.fdopen(read, "rb")

    def call(self, seq: int, section: str, query: bytes) -> tuple[bytes, ...]:
        with self.lock:
            self._start()
            assert self.proc is not None and self.proc.stdin is not None and self.answers is not None
            try:
                self.proc.stdin.write(f"{seq} {section} {len(query)}\n".encode() + query)
                self.proc.stdin.flush()
                head = self.answers.readline()
                if head.startswith(b"ERR "):
                    raise PerlCallError(f"{self.path.name} TEST {seq}: {head[4:].decode(errors='replace').strip()}")
                pieces = []
                for _ in range(int(head)):
                    pieces.append(self.answers.read(int(self.answers.readline())))
                return tuple(pieces)
            except (OSError, ValueError) as exc:
                self._stop()
                raise PerlCallError(f"{self.path.name} TEST {seq}: perl could not answer {section}: {exc}") from None

    def close(self) -> None:
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.answers is not None:
            self.answers.close()
            self.answers = None


class Asked(Protocol):
    """What :class:`Answering` needs of a companion (harness.containers.CompanionContainer)."""

    def question(self, wait: float) -> Optional[tuple[str, bytes]]: ...

    def answer(self, kind: str, reply: Optional[tuple[bytes, ...]]) -> None: ...


class Answering:
    """While a repetition runs, a thread that answers the companion's questions: a query a mock peer
    of block ``seq`` received goes to the block's Perl sub (``KIND_reply``), its answer back to the peer.
    :meth:`stop` ends it and gives what went wrong (a sub that died)."""

    POLL = 0.5  # seconds one question waits on the companion

    def __init__(self, companion: Asked, calls: PerlCalls, seq: int) -> None:
        self.companion, self.calls, self.seq = companion, calls, seq
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"perl-answers-{seq}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                asked = self.companion.question(self.POLL)
                if asked is None:
                    continue
                kind, query = asked
                try:
                    reply: Optional[tuple[bytes, ...]] = self.calls.call(self.seq, f"{kind}_reply", query)
                except PerlCallError as exc:
                    self.errors.append(str(exc))
                    reply = None
                self.companion.answer(kind, reply)
            except Exception as exc:  # noqa: BLE001 - the companion went away: the block's checks say so
                if not self.stopping.is_set():
                    self.errors.append(f"answering the mock peer: {exc}")
                return

    def stop(self) -> list[str]:
        self.stopping.set()
        self.thread.join(timeout=self.POLL + 6)
        return self.errors
