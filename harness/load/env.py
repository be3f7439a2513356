"""LoadEnv: what the harness tells the locust processes it starts, through their environment.

The harness writes it (``LoadEnv(...).to_environ()``) and the locustfiles and the recorder read it
(``LoadEnv.from_environ()``); this is the one place that knows the variable names and formats.
No locust import here: the harness process imports it too.

- ``HARNESS_LOAD_PATHS``: paths GET in turn, comma-separated; ``HARNESS_LOAD_USERS``: users over all
  processes; ``HARNESS_LOAD_RATE``: requests/s over all users (empty: as fast as they go);
  ``HARNESS_LOAD_CLIENT``: ``fast`` (FastHttpUser) or ``raw`` (the lean RawHttpUser);
  ``HARNESS_LOAD_OUT``: where the recorder writes its JSON result.
- perf rounds (``harness/perf/locustfile_rounds.py``): ``HARNESS_PERF_TARGETS`` (base URLs,
  comma-separated, index 0 the baseline), ``HARNESS_PERF_SCHEDULE`` (target index per round,
  comma-separated: ``0,1,1,0``), ``HARNESS_PERF_ROUND_S``, ``HARNESS_PERF_CONTROL`` (a directory),
  ``HARNESS_PERF_INTERLEAVE`` (``requests`` or ``rounds``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Mapping, Optional

Client = Literal["fast", "raw"]  # locust's FastHttpUser, or the harness's lean RawHttpUser


def _items(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


@dataclass(frozen=True)
class LoadEnv:
    paths: tuple[str, ...] = ("/",)
    users: int = 1
    rate: Optional[float] = None
    client: Client = "fast"
    out: str = ""
    targets: tuple[str, ...] = ()
    schedule: tuple[int, ...] = ()
    round_s: float = 0.0
    control: str = ""
    interleave: str = ""

    def to_environ(self) -> dict[str, str]:
        """Every variable of the protocol (so nothing stale from the parent's environment leaks in)."""
        return {"HARNESS_LOAD_PATHS": ",".join(self.paths), "HARNESS_LOAD_USERS": str(self.users),
                "HARNESS_LOAD_RATE": str(self.rate or ""), "HARNESS_LOAD_CLIENT": self.client,
                "HARNESS_LOAD_OUT": self.out, "HARNESS_PERF_TARGETS": ",".join(self.targets),
                "HARNESS_PERF_SCHEDULE": ",".join(str(i) for i in self.schedule),
                "HARNESS_PERF_ROUND_S": str(self.round_s or ""), "HARNESS_PERF_CONTROL": self.control,
                "HARNESS_PERF_INTERLEAVE": self.interleave}

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> "LoadEnv":
        env = os.environ if environ is None else environ
        client = env.get("HARNESS_LOAD_CLIENT") or "fast"
        if client not in ("fast", "raw"):
            raise ValueError(f"HARNESS_LOAD_CLIENT={client!r}: fast or raw")
        return cls(paths=_items(env.get("HARNESS_LOAD_PATHS", "/")) or ("/",),
                   users=int(env.get("HARNESS_LOAD_USERS") or 1),
                   rate=float(env.get("HARNESS_LOAD_RATE") or 0) or None,
                   client="raw" if client == "raw" else "fast",
                   out=env.get("HARNESS_LOAD_OUT", ""),
                   targets=tuple(t.rstrip("/") for t in _items(env.get("HARNESS_PERF_TARGETS", ""))),
                   schedule=tuple(int(i) for i in _items(env.get("HARNESS_PERF_SCHEDULE", ""))),
                   round_s=float(env.get("HARNESS_PERF_ROUND_S") or 0),
                   control=env.get("HARNESS_PERF_CONTROL", ""),
                   interleave=env.get("HARNESS_PERF_INTERLEAVE", ""))

    @property
    def per_user_rate(self) -> float:
        """Requests per second each user aims at (0: no pacing)."""
        return self.rate / self.users if self.rate else 0.0
