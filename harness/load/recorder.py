"""A locust plugin (imported by locustfiles, inside the locust process) that keeps its own HDR
histogram of response times, failures by kind and a per-second series, merges them across
``--processes`` workers, and writes them as JSON to ``$HARNESS_LOAD_OUT`` when locust quits.

Locust rounds response times in its own stats; the histogram keeps microseconds. With a target
rate (``$HARNESS_LOAD_RATE``), values are recorded with coordinated-omission correction.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from locust import events
from locust.runners import WorkerRunner

from harness.load.env import LoadEnv
from harness.load.recording import Recorder, listen

RECORDER = Recorder()


def _on_request(response_time: float = 0.0, exception: Optional[BaseException] = None, **_kw: Any) -> None:
    RECORDER.record(response_time or 0.0, exception)


def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    data["harness"] = RECORDER.export()
    RECORDER.reset()


def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if "harness" in data:
        RECORDER.merge(data["harness"])


def _on_quitting(environment: Any, **_kw: Any) -> None:
    out = LoadEnv.from_environ().out
    if out and not isinstance(environment.runner, WorkerRunner):
        with open(out, "w") as f:
            json.dump(RECORDER.result(), f)


listen(events.request, _on_request)
listen(events.report_to_master, _on_report_to_master)
listen(events.worker_report, _on_worker_report)
listen(events.quitting, _on_quitting)
