"""A runtime kept between the runs of one process (``harness serve``): the pytest plugin asks here
for its run's :class:`~harness.runtime.HarnessRuntime` and gives it back at the session's end.

Off (every process but a server's): each run gets a runtime of its own, closed at its end. On: a run
whose settings and fixture search path equal the last run's gets that run's runtime again (its stage,
network, services and idle OpenResty containers warm); a run with others closes the kept one and keeps
its own. Never kept: coverage runs (their counts belong to one run), matrix runs (an image each), an
interrupted or crashed run (what it left is not trusted), a stage whose engine or networks are gone."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Hashable, Optional

from harness.runtime import HarnessRuntime
from harness.settings import Settings


class WarmRuntimes:
    """The kept runtime of a process (at most one) and the key it was made for."""

    def __init__(self) -> None:
        self.enabled = False
        self.kept: Optional[HarnessRuntime] = None
        self.key: Optional[Hashable] = None
        self.runs = 0  # runs on the kept runtime
        self.since = 0.0
        self.last = ""  # how the last run got its runtime, in words
        self.replaced = ""  # why the last kept runtime was closed for a new one

    def enable(self) -> None:
        self.enabled = True

    @staticmethod
    def key_of(settings: Settings, rootdir: Path) -> Optional[Hashable]:
        """What a kept runtime must match; None: this run's runtime is not kept."""
        if settings.coverage or settings.matrix:
            return None
        return settings, tuple(str(p.resolve()) for p in settings.fixture_search_path(rootdir) if p.is_dir())

    def keep(self, settings: Settings, rootdir: Path) -> Optional[HarnessRuntime]:
        """The kept runtime for ``settings`` in ``rootdir`` (made, or the one kept, when it fits and
        still works); None when such a run's runtime is not kept."""
        key = self.key_of(settings, rootdir) if self.enabled else None
        if key is None:
            return None
        if self.kept is not None and self.key != key:
            self.replaced = f"settings or fixture directories differ from the kept stage's: {difference(self.key, key)}"
            self.close()
        elif self.kept is not None and not self.kept.usable():
            self.replaced = "the kept stage's engine or networks are gone"
            self.close()
        if self.kept is None:
            self.kept, self.key, self.runs, self.since = HarnessRuntime(settings, rootdir), key, 0, time.time()
        return self.kept

    def runtime(self, settings: Settings, rootdir: Path) -> HarnessRuntime:
        """The runtime of a run with ``settings`` in ``rootdir``: the kept one when it fits."""
        kept = self.keep(settings, rootdir)
        if kept is None:
            self.last = ("a stage of its own, removed at its end (coverage and matrix runs are never kept warm)"
                         if self.enabled else "")
            return HarnessRuntime(settings, rootdir)
        try:
            kept.begin_run(rootdir)
        except Exception as exc:  # noqa: BLE001 - a service that cannot be made fresh: a new stage
            self.replaced = f"the kept stage's services could not be made fresh ({type(exc).__name__}: {exc})"
            self.close()
            return self.runtime(settings, rootdir)
        self.runs += 1
        self.last = kept.served = (f"run {self.runs} on the warm stage of pid {os.getpid()} (kept since "
                                    f"{time.strftime('%H:%M:%S', time.localtime(self.since))})")
        return kept

    def finish(self, runtime: HarnessRuntime, reusable: bool = True) -> None:
        """A run's end: the kept runtime stays (``reusable``: the run ended normally), any other closes."""
        if runtime is self.kept and reusable:
            runtime.end_run()
            return
        if runtime is self.kept:
            self.kept, self.key, self.replaced = None, None, "the last run was interrupted or crashed"
        runtime.close()

    def close(self) -> None:
        """Remove everything the kept runtime made."""
        kept, self.kept, self.key = self.kept, None, None
        if kept is not None:
            kept.close()


def difference(old: Optional[Hashable], new: Hashable) -> str:
    """What differs between two keys of :meth:`WarmRuntimes.key_of`, in a few words."""
    if not (isinstance(old, tuple) and isinstance(new, tuple)):
        return "none kept"
    (old_settings, old_dirs), (new_settings, new_dirs) = old, new
    changed = [f"{k}: {v!r} -> {getattr(new_settings, k)!r}" for k, v in vars(old_settings).items()
               if getattr(new_settings, k, v) != v]
    if old_dirs != new_dirs:
        changed.append(f"fixture directories {list(old_dirs)} -> {list(new_dirs)}")
    return "; ".join(changed) or "nothing visible"


WARM = WarmRuntimes()  # this process's: enabled by harness serve only
