"""ContainerIO: the agent while it answers, else docker exec; a reload the agent may have acted on
is never repeated through the engine."""
from __future__ import annotations

from typing import Optional

import pytest

from harness.containers.agent import AgentReply, AgentUnavailable
from harness.containers.transport import ContainerIO


class Shell:
    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers = answers
        self.scripts: list[str] = []

    def sh(self, script: str) -> tuple[int, str]:
        self.scripts.append(script)
        return next((a for key, a in self.answers.items() if key in script), (0, ""))


class Agent:
    """An AgentLink stand-in: replies by command word, or fails as a gone agent does."""

    def __init__(self, replies: dict[str, AgentReply], fail: Optional[AgentUnavailable] = None) -> None:
        self.replies, self.fail = replies, fail
        self.calls: list[str] = []
        self.closed = False

    def call(self, command: str, timeout: float) -> AgentReply:
        self.calls.append(command)
        if self.fail is not None:
            raise self.fail
        return self.replies[command.split()[0]]

    def close(self) -> None:
        self.closed = True


def test_calls_go_through_the_agent_while_it_answers():
    agent = Agent({"size": AgentReply(0, "120"), "log": AgentReply(0, "tail", {"from": 100, "to": 104}),
                   "reload": AgentReply(0, "ok", {"verdict": 1.5})})
    shell = Shell({})
    io = ContainerIO(shell, agent)  # type: ignore[arg-type]
    assert io.via == "agent" and io.log_size() == 120
    chunk = io.read_log(100)
    assert chunk is not None and (chunk.text, chunk.start, chunk.end) == ("tail", 100, 104)
    assert io.reload(3, timeout=1.0) == ("agent", AgentReply(0, "ok", {"verdict": 1.5}))
    assert agent.calls == ["size", "log 100", "reload 3"] and shell.scripts == []


def test_an_agent_that_does_not_answer_is_dropped_for_the_engine():
    shell = Shell({"wc -c": (0, "42\n"), "tail -c +11": (0, "from ten")})
    io = ContainerIO(shell, Agent({}, AgentUnavailable("gone")))  # type: ignore[arg-type]
    assert io.log_size() == 42 and io.via == "engine"
    chunk = io.read_log(10)
    assert chunk is not None and chunk.text == "from ten"


def test_a_reload_the_agent_may_have_sent_is_not_repeated_through_the_engine():
    shell = Shell({})
    io = ContainerIO(shell, Agent({}, AgentUnavailable("no reply", sent=True)))  # type: ignore[arg-type]
    with pytest.raises(AgentUnavailable):
        io.reload(2, timeout=0.1)
    assert shell.scripts == [] and io.via == "engine"


def test_a_reload_the_agent_never_took_goes_through_the_engine():
    shell = Shell({"reload": (0, "retired 1 2")})
    io = ContainerIO(shell, Agent({}, AgentUnavailable("no agent reading")))  # type: ignore[arg-type]
    assert io.reload(2, timeout=0.1) == ("engine", AgentReply(0, "retired 1 2"))
    assert shell.scripts == ["/harness/bin/activate 2 reload"]


def test_only_plain_file_names_of_the_logs_directory_are_read():
    io = ContainerIO(Shell({}))
    for name in ("../conf/nginx.conf", "..", "a/b"):
        with pytest.raises(ValueError, match="plain file name"):
            io.read_log(0, name)


def test_idle_asks_the_agent_and_through_the_engine_cannot_tell():
    agent = Agent({"idle": AgentReply(0, "yes\n")})
    io = ContainerIO(Shell({}), agent)  # type: ignore[arg-type]
    assert io.idle(0.5) == "yes" and agent.calls == ["idle 500"]
    assert ContainerIO(Shell({})).idle(0.5) == ""  # type: ignore[arg-type]
