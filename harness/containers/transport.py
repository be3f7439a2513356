"""How the harness acts inside one running OpenResty container: the one seam for a reload, the
process table and reads of nginx's log files.

Two ways, chosen once per container: the in-container agent (:mod:`harness.containers.agent`,
two FIFOs, about a millisecond a call) where the engine shares this host's files and we are root,
else ``docker exec`` through the engine (tens of milliseconds). When the agent stops answering,
the container goes through the engine from then on. Talking to the workers themselves (the
control server on port 9901) is another line: :class:`harness.containers.control.ControlChannel`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal, Optional, Protocol

from harness.containers.agent import AgentLink, AgentReply, AgentUnavailable
from harness.nginx_conf import ACTIVATE, ERROR_LOG, ROOT
from harness.workers import PROC_LISTING

Via = Literal["agent", "engine"]


class Shell(Protocol):
    """What the engine's way needs of the container (a :class:`HarnessContainer` has it)."""

    def sh(self, script: str) -> tuple[int, str]: ...


@dataclass(frozen=True)
class LogChunk:
    """Bytes of a log file from ``start`` (``end``: where they stop, -1 when unknown)."""

    text: str
    start: int
    end: int = -1


def plain_log_name(name: str) -> str:
    """``name`` if it is a plain file name in nginx's logs directory; else ValueError."""
    if not (re.fullmatch(r"[\w.-]+", name) and name.strip(".")):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


class ContainerIO:
    """A container's reloads, process listings and log reads: through ``agent`` while it answers,
    else through ``shell`` (``docker exec``)."""

    def __init__(self, shell: Shell, agent: Optional[AgentLink] = None, call_timeout: float = 5.0) -> None:
        self.shell = shell
        self.agent = agent
        self.call_timeout = call_timeout

    @property
    def via(self) -> Via:
        """Which way the next call goes."""
        return "agent" if self.agent is not None else "engine"

    def use_engine(self) -> Optional[AgentLink]:
        """Go through the engine from now on; returns the agent link that was in use (for tests that
        put it back with :meth:`use_agent`)."""
        link, self.agent = self.agent, None
        return link

    def use_agent(self, link: Optional[AgentLink]) -> None:
        self.agent = link

    # ---- the calls ------------------------------------------------------------------------------
    def reload(self, generation: int, timeout: float) -> tuple[Via, AgentReply]:
        """Make config generation ``generation`` current by a HUP (``activate GEN reload`` through the
        engine where there is no agent). Raises :class:`AgentUnavailable` with ``sent`` when the agent
        took the request and did not answer: it may have sent the HUP, so a second one through the
        engine could overlap it."""
        if self.agent is not None:
            try:
                return "agent", self.agent.call(f"reload {generation}", timeout=timeout)
            except AgentUnavailable as exc:
                self.agent = None
                if exc.sent:
                    raise
        code, output = self.shell.sh(f"{ACTIVATE} {generation} reload")
        return "engine", AgentReply(code, output)

    def procs(self) -> str:
        """The nginx process table (:data:`harness.workers.PROC_LISTING`'s format)."""
        reply = self.ask_agent("procs")
        return reply.output if reply is not None else self.shell.sh(PROC_LISTING)[1]

    def procs_over(self, interval: float) -> tuple[str, str]:
        """Two process tables ``interval`` seconds apart (for CPU % per process): through the engine
        in one exec."""
        if self.agent is not None:
            first = self.procs()
            time.sleep(interval)
            return first, self.procs()
        out = self.shell.sh(f"{PROC_LISTING}\necho '--- second'\nsleep {interval:.3f}\n{PROC_LISTING}")[1]
        first, _, second = out.partition("--- second\n")
        return first, second

    def read_log(self, since: int = 0, name: Optional[str] = None) -> Optional[LogChunk]:
        """error.log (or ``name``, a plain file name in nginx's logs directory: empty while it does not
        exist) from byte ``since``, read inside the container; None: it could not be read."""
        if name is not None:
            plain_log_name(name)
        reply = self.ask_agent(f"log {since}" + (f" {name}" if name else ""))
        if reply is not None:
            return LogChunk(reply.output, int(reply.numbers.get("from", since)), int(reply.numbers.get("to", -1)))
        path = f"{ROOT}/logs/{name}" if name else ERROR_LOG
        code, out = self.shell.sh(f"test ! -e {path} || tail -c +{since + 1} {path}" if name else
                                  f"tail -c +{since + 1} {path}")
        return LogChunk(out, since) if code == 0 else None

    def idle(self, timeout: float) -> str:
        """Wait (at most ``timeout`` seconds) until every worker sleeps in its event loop: "yes", "no"
        (still busy at the deadline), or "" where only the agent could tell (through the engine)."""
        reply = self.ask_agent(f"idle {round(timeout * 1000)}")
        return reply.output.strip() if reply is not None else ""

    def log_size(self) -> Optional[int]:
        """The length of error.log in bytes; None: it could not be read."""
        reply = self.ask_agent("size")
        if reply is not None and reply.output.strip().isdigit():
            return int(reply.output)
        code, out = self.shell.sh(f"wc -c < {ERROR_LOG}")
        return int(out.strip()) if code == 0 and out.strip().isdigit() else None

    def ask_agent(self, command: str) -> Optional[AgentReply]:
        """The agent's reply to a read-only ``command`` that succeeded; None without an agent or
        when it failed (an agent that does not answer is dropped: the engine from then on)."""
        if self.agent is None:
            return None
        try:
            reply = self.agent.call(command, timeout=self.call_timeout)
        except AgentUnavailable:
            self.agent = None
            return None
        return reply if reply.code == 0 else None

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None
