"""The host's end of the agent inside an OpenResty container (``harness/lualib/agent.lua``).

The agent replaces a ``docker exec`` (tens of milliseconds of engine work each, more on a busy
machine) for what the harness does often: switching the config generation, listing the nginx
processes, reading error.log when the control server cannot. Host and agent talk over two FIFOs
in a host directory the container sees read-only (``/harness/ctl``): a FIFO is writable through a
read-only mount, and these are the host user's with mode 0600, so inside the container only root
(the master's user, the one ``docker exec`` runs as) can use them; the workers run as nobody.

Only where the engine shares this host's files and we are root (uid 0 here is uid 0 there);
anywhere else :meth:`AgentLink.create` returns None and the container uses ``docker exec``.
"""
from __future__ import annotations

import itertools
import os
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REQUESTS, REPLIES = "in", "out"


class AgentUnavailable(Exception):
    """The agent did not answer (not started, gone, or too slow). ``sent``: whether the request
    reached it (then it may have acted on it, and doing it again through the engine is not safe)."""

    def __init__(self, message: str, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class AgentReply:
    code: int
    output: str
    # the agent's own steps in ms; for a rejected reload also log_from, log_to, master: the byte
    # range of error.log and the pid of the master's lines about it
    numbers: dict[str, float] = field(default_factory=dict)


class AgentLink:
    """One container's two FIFOs; one request at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._in: Optional[int] = None
        self._out: Optional[int] = None
        self._buffer = b""

    @classmethod
    def create(cls, directory: Path) -> Optional["AgentLink"]:
        """Make the FIFOs in ``directory`` (to be mounted at ``/harness/ctl``), or None where the
        container's root would not be their owner."""
        if os.geteuid() != 0:
            return None
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in (REQUESTS, REPLIES):
            os.mkfifo(directory / name, 0o600)
        return cls(directory)

    def _open(self, deadline: float) -> None:
        if self._out is None:
            self._out = os.open(self.directory / REPLIES, os.O_RDONLY | os.O_NONBLOCK)
        while self._in is None:
            try:
                self._in = os.open(self.directory / REQUESTS, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO: the agent is not reading (yet)
                if time.monotonic() >= deadline:
                    raise AgentUnavailable(f"no agent reading {self.directory / REQUESTS}: {exc}") from None
                time.sleep(0.005)

    def call(self, command: str, timeout: float) -> AgentReply:
        """Send ``command``; the agent's reply. Raises :class:`AgentUnavailable` when it does not
        answer within ``timeout`` seconds (the link is reset; a late reply is dropped by its id)."""
        with self.lock:
            deadline = time.monotonic() + timeout
            sent = False
            try:
                self._open(min(deadline, time.monotonic() + 0.2))
                request = next(self._ids)
                assert self._in is not None
                os.write(self._in, f"{request} {command}\n".encode())
                sent = True
                while True:
                    reply = self._reply(deadline)
                    if reply[0] == request:
                        return reply[1]
            except (OSError, AgentUnavailable) as exc:
                self.close()
                raise AgentUnavailable(str(exc), sent) from None

    def _reply(self, deadline: float) -> tuple[int, AgentReply]:
        header = None
        while True:
            if header is None and b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                header = line.decode().split(" ")
            if header is not None and len(self._buffer) >= int(header[2]):
                size = int(header[2])
                output, self._buffer = self._buffer[:size], self._buffer[size:]
                numbers = dict((k, float(v)) for k, _, v in (p.partition("=") for p in header[3].split(","))
                               if v) if len(header) > 3 else {}
                return int(header[0]), AgentReply(int(header[1]), output.decode(errors="replace"), numbers)
            left = deadline - time.monotonic()
            assert self._out is not None
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise AgentUnavailable(f"the agent did not reply within the deadline ({self.directory})")
            chunk = os.read(self._out, 65536)
            if not chunk:  # the agent closed its end (it died): nothing more will come
                raise AgentUnavailable("the agent closed its reply FIFO")
            self._buffer += chunk

    def close(self) -> None:
        for fd in (self._in, self._out):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._in = self._out = None
        self._buffer = b""
