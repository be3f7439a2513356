"""The scenario step ``preflight:`` (the model only; harness.scenarios.preflight_step runs it)."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

CheckName = Literal["config", "modules", "native", "shared_dicts", "start", "workers", "memory", "connections",
                    "lint", "blocking"]
VerdictName = Literal["ok", "warn", "fail", "skip"]


class PreflightStep(BaseModel):
    """Run ``harness preflight`` on an app; each check's verdict is compared with ``expect``."""

    model_config = ConfigDict(extra="forbid")

    app: Optional[str] = Field(None, description="app directory or fixture name (default: the scenario's fixture)")
    workers: Optional[Union[int, Literal["auto"]]] = Field(None, description="worker_processes (default 1)")
    cpus: Optional[float] = Field(None, gt=0, description="CPU quota (default 1)")
    memory: Optional[str] = Field(None, description='memory limit (default "256m")')
    nofile: Optional[int] = Field(None, gt=0, description="open files limit (default: the engine's)")
    paths: list[str] = Field(default_factory=list, description="warm-up paths (default /)")
    env: dict[str, str] = Field(default_factory=dict, description="environment, also ${NAME} in the app's config")
    expect: dict[CheckName, VerdictName] = Field(
        default_factory=dict, description="check -> verdict; a check not named must be ok (or skip: could not run)")

    def options(self) -> dict:
        """The values given, for :meth:`harness.preflight.PreflightOptions.resolve`."""
        return {"workers": self.workers, "cpus": self.cpus, "memory": self.memory, "nofile": self.nofile,
                "paths": tuple(self.paths) or None, "env": self.env}
