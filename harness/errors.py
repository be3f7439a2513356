"""Errors the harness raises: each one a single line that names the fix; and the exit code a
command that ran pytest returns."""
from __future__ import annotations


def harness_exit(pytest_code: int) -> int:
    """pytest's exit code as the harness's: 0 all passed, 1 a test failed, 2 the run itself failed."""
    return pytest_code if pytest_code in (0, 1) else 2


class HarnessError(Exception):
    """Base class. ``str(err)`` is a one-line summary that names the fix; ``detail`` is optional context."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        if self.detail:
            return f"{self.message}\n{self.detail}"
        return self.message


class EngineUnavailable(HarnessError):
    """No Docker engine answers."""


class ImageUnavailable(HarnessError):
    """An image can be neither found locally, pulled, nor built."""


class FixtureNotFound(HarnessError):
    """A fixture name or directory does not exist or is incomplete."""


class ConfigTemplateError(HarnessError):
    """A fixture config names a ``${PLACEHOLDER}`` nobody provided."""


class PortTaken(HarnessError):
    """A fixture listens on a port the harness uses, or its port is held by another socket."""


class EngineLost(HarnessError):
    """The Docker engine stopped answering during a run."""


class NginxConfigError(HarnessError):
    """``nginx -t`` rejected the rendered configuration; ``detail`` holds its output."""


class LuaSyntaxError(NginxConfigError):
    """A fixture's Lua file does not compile (LuaJIT's ``-bl``); ``detail`` holds the compiler output."""


class ReadinessTimeout(HarnessError):
    """A container did not become ready before its deadline."""


class ReloadError(HarnessError):
    """A HUP reload was rejected or the new worker generation never came up."""
