"""Locustfile of ``harness perf``: one locust run drives interleaved rounds against several targets.

Runs inside locust (never imported by the harness process). The harness passes, in the environment
(written and read by :class:`harness.load.env.LoadEnv`):

- ``HARNESS_PERF_TARGETS``: base URLs, comma-separated (index 0 is the baseline);
- ``HARNESS_PERF_SCHEDULE``: the target index of each round, comma-separated, e.g. ``0,1,1,0`` (A B B A);
- ``HARNESS_PERF_ROUND_S``: the length of a round, seconds;
- ``HARNESS_PERF_INTERLEAVE``: ``rounds`` (each round on its scheduled target) or ``requests`` (every
  round on every target, alternating request by request: the targets share each moment's noise);
- ``HARNESS_PERF_CONTROL``: a directory. The master writes ``spawned`` once every user runs; the
  harness then writes ``start`` holding the wall-clock time round 0 begins. Until then users warm
  up every target in turn (connections, LuaJIT traces); after the last round the master quits and
  writes ``result.json``: per round, an HDR histogram, requests and failures (see ``Recorder``);
- ``HARNESS_LOAD_PATHS``, ``HARNESS_LOAD_RATE``, ``HARNESS_LOAD_USERS`` as for the generic locustfile.

Rounds are cut by the clock (time.time(), shared by every process on the machine), so the harness can
read each container's CPU accounting at the same boundaries.
"""
from __future__ import annotations

import itertools
import json
import time
from typing import Any, Optional
from pathlib import Path

import gevent
from locust import constant, constant_throughput, events, task
from locust.runners import WorkerRunner

from harness.load.env import LoadEnv
from harness.load.rawhttp import RawHttpUser
from harness.load.recording import Recorder, listen

ENV = LoadEnv.from_environ()  # read once: locust builds the user class from it
TARGETS = list(ENV.targets)
SCHEDULE = list(ENV.schedule)
ROUND_S = ENV.round_s
CONTROL = Path(ENV.control)
PATHS = list(ENV.paths)
RATE = ENV.rate or 0.0
USERS = ENV.users
START_FILE = CONTROL / "start"
MIXED = ENV.interleave == "requests"  # every round on every target, request by request


class Clock:
    """Round 0's start time, once the harness has written it (looked up at most every 50 ms)."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self._next_look = 0.0

    def start(self) -> float | None:
        if self.t0 is None and time.time() >= self._next_look:
            self._next_look = time.time() + 0.05
            try:
                self.t0 = float(START_FILE.read_text())
            except (OSError, ValueError):
                pass
        return self.t0

    def round_now(self) -> int | None:
        """The round running now; None while warming up; len(SCHEDULE) once all are over."""
        t0 = self.start()
        if t0 is None or time.time() < t0:
            return None
        return min(int((time.time() - t0) / ROUND_S), len(SCHEDULE))


CLOCK = Clock()
ROUNDS: dict[str, Recorder] = {}  # "round target" -> its recorder


def recorder(key: str) -> Recorder:
    if key not in ROUNDS:
        ROUNDS[key] = Recorder()
    return ROUNDS[key]


class RoundsUser(RawHttpUser):
    host = TARGETS[0]
    wait_time = constant_throughput(RATE / USERS) if RATE > 0 else constant(0)

    def on_start(self) -> None:
        self._paths = itertools.cycle(PATHS)
        self._warmup = itertools.cycle(range(len(TARGETS)))

    @task
    def get(self) -> None:
        k = CLOCK.round_now()
        if k is not None and k >= len(SCHEDULE):
            gevent.sleep(0.05)  # all rounds are over; the master is about to quit
            return
        if k is None or MIXED:
            target = next(self._warmup)
        else:
            target = SCHEDULE[k]
        self.client.get(TARGETS[target] + next(self._paths), name="warmup" if k is None else f"round {k} {target}")


def _on_request(name: str = "", response_time: float = 0.0, exception: Optional[BaseException] = None,
                **_kw: Any) -> None:
    if name.startswith("round "):
        recorder(name[6:]).record(response_time or 0.0, exception)


def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    data["harness_rounds"] = {k: r.export() for k, r in ROUNDS.items()}
    ROUNDS.clear()


def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    for k, exported in data.get("harness_rounds", {}).items():
        recorder(k).merge(exported)


def _on_spawned(user_count: int, **_kw: Any) -> None:
    (CONTROL / "spawned").write_text(str(time.time()))


def _quit_after_last_round(environment: Any) -> None:
    while True:
        t0 = CLOCK.start()
        if t0 is not None and time.time() > t0 + len(SCHEDULE) * ROUND_S + 0.2:
            break
        gevent.sleep(0.05)
    environment.runner.quit()


def _on_init(environment: Any, **_kw: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_quit_after_last_round, environment)


def _on_quitting(environment: Any, **_kw: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    keys = sorted((int(k), int(t)) for k, t in (key.split() for key in ROUNDS))
    rounds = [{"index": k, "target": t, **ROUNDS[f"{k} {t}"].result()} for k, t in keys if k < len(SCHEDULE)]
    out = {"t0": CLOCK.t0, "round_s": ROUND_S, "schedule": SCHEDULE, "targets": TARGETS, "rounds": rounds}
    tmp = CONTROL / "result.json.tmp"
    tmp.write_text(json.dumps(out))
    tmp.rename(CONTROL / "result.json")


listen(events.request, _on_request)
listen(events.report_to_master, _on_report_to_master)
listen(events.worker_report, _on_worker_report)
listen(events.spawning_complete, _on_spawned)
listen(events.init, _on_init)
listen(events.quitting, _on_quitting)
