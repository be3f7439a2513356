"""``harness perf``'s option (``HARNESS_PERF_TOLERANCE``): defined here once, with its default and
doc, read like the core's (:class:`harness.settings.OptionSettings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.settings import Option, OptionSettings

OPTIONS: tuple[Option, ...] = (
    Option("perf_tolerance", "HARNESS_PERF_TOLERANCE", "--perf-tolerance", "0.03",
           "`harness perf compare`: CPU per request may grow by this fraction before the verdict fails "
           "(a larger growth fails only if its confidence interval excludes no change)"),
)


@dataclass(frozen=True)
class PerfSettings(OptionSettings):
    """Resolved ``harness perf`` options. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    perf_tolerance: float
