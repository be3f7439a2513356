"""The preflight's options (``HARNESS_PREFLIGHT_*``): the limits an app is checked under, defined here
once, with defaults and docs, read like the core's (:class:`harness.settings.OptionSettings`); the
``harness preflight`` command, the pytest ``preflight`` fixture and a scenario's ``preflight:`` step
fill in what their user left unset from them (:meth:`harness.preflight.options.PreflightOptions.resolve`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.settings import Option, OptionSettings

OPTIONS: tuple[Option, ...] = (
    Option("preflight_cpus", "HARNESS_PREFLIGHT_CPUS", "--preflight-cpus", "1",
           "`harness preflight`: CPU quota of the app's container (--cpus)"),
    Option("preflight_memory", "HARNESS_PREFLIGHT_MEMORY", "--preflight-memory", "256m",
           "`harness preflight`: memory limit of the app's container (--memory; k, m, g suffixes)"),
    Option("preflight_nofile", "HARNESS_PREFLIGHT_NOFILE", "--preflight-nofile", "",
           "`harness preflight`: open files limit of the app's container (--ulimit nofile); empty: the engine's"),
    Option("preflight_workers", "HARNESS_PREFLIGHT_WORKERS", "--preflight-workers", "1",
           "`harness preflight`: worker_processes, a number or auto (nginx then counts the CPUs it sees)"),
)
OPTION: dict[str, Option] = {opt.name: opt for opt in OPTIONS}  # by name, for `harness preflight`'s help


@dataclass(frozen=True)
class PreflightSettings(OptionSettings):
    """Resolved preflight options. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    preflight_cpus: float
    preflight_memory: str
    preflight_nofile: str
    preflight_workers: str
