"""The scenario step ``preflight:`` (the model only; harness.scenarios.preflight_step runs it)."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from harness.openresty_spec import OpenRestyOptions

CheckName = Literal["config", "modules", "native", "shared_dicts", "start", "workers", "memory", "connections",
                    "lint", "blocking"]
VerdictName = Literal["ok", "warn", "fail", "skip"]
LIMITS = ("workers", "cpus", "memory", "nofile", "env")  # the OpenResty options a preflight takes


class PreflightStep(BaseModel):
    """Run ``harness preflight`` on an app; each check's verdict is compared with ``expect``."""

    model_config = ConfigDict(extra="forbid")

    app: Optional[str] = Field(None, description="app directory or fixture name (default: the scenario's fixture)")
    options: OpenRestyOptions = Field(
        default_factory=OpenRestyOptions,
        description="workers, cpus, memory, nofile, env of the app's container (not given: HARNESS_PREFLIGHT_*)")
    paths: list[str] = Field(default_factory=list, description="warm-up paths (default /)")
    expect: dict[CheckName, VerdictName] = Field(
        default_factory=dict, description="check -> verdict; a check not named must be ok (or skip: could not run)")

    def preflight_options(self) -> dict[str, Any]:
        """The options the scenario gave, for :meth:`harness.preflight.PreflightOptions.resolve`."""
        given = {name: getattr(self.options, name) for name in LIMITS if name in self.options.model_fields_set}
        return {**given, "paths": tuple(self.paths) or None}
