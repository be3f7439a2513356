"""A locust plugin (imported by locustfiles, inside the locust process) that keeps its own HDR
histogram of response times, failures by kind and a per-second series, merges them across
``--processes`` workers, and writes them as JSON to ``$HARNESS_LOAD_OUT`` when locust quits.

Locust rounds response times in its own stats; the histogram keeps microseconds. With a target
rate (``$HARNESS_LOAD_RATE``), values are recorded with coordinated-omission correction.
"""
from __future__ import annotations

import json

from locust import events
from locust.runners import WorkerRunner

from harness.load.env import LoadEnv
from harness.load.recording import Recorder

RECORDER = Recorder()


@events.request.add_listener
def _on_request(response_time=0.0, exception=None, **_kw):
    RECORDER.record(response_time or 0.0, exception)


@events.report_to_master.add_listener
def _on_report_to_master(client_id, data, **_kw):
    data["harness"] = RECORDER.export()
    RECORDER.reset()


@events.worker_report.add_listener
def _on_worker_report(client_id, data, **_kw):
    if "harness" in data:
        RECORDER.merge(data["harness"])


@events.quitting.add_listener
def _on_quitting(environment, **_kw):
    out = LoadEnv.from_environ().out
    if out and not isinstance(environment.runner, WorkerRunner):
        with open(out, "w") as f:
            json.dump(RECORDER.result(), f)
