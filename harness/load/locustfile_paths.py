"""Generic locustfile: GET the paths in $HARNESS_LOAD_PATHS (comma-separated) in turn, with
FastHttpUser, or with the lean RawHttpUser when $HARNESS_LOAD_CLIENT is "raw"; $HARNESS_LOAD_RATE
(requests/s over all users) paces them. Also runs standalone:
    HARNESS_LOAD_PATHS=/count locust -f harness/load/locustfile_paths.py --headless -u 10 -t 10s --host http://...
"""
import itertools
import os

from locust import FastHttpUser, constant_throughput, task

import harness.load.recorder  # noqa: F401 - registers the HDR recorder
from harness.load.rawhttp import RawHttpUser

PATHS = [p for p in os.environ.get("HARNESS_LOAD_PATHS", "/").split(",") if p]
RATE = float(os.environ.get("HARNESS_LOAD_RATE") or 0)
USERS = int(os.environ.get("HARNESS_LOAD_USERS") or 1)
BASE = RawHttpUser if os.environ.get("HARNESS_LOAD_CLIENT") == "raw" else FastHttpUser


class PathsUser(BASE):
    if RATE > 0:
        wait_time = constant_throughput(RATE / USERS)

    def on_start(self):
        self._paths = itertools.cycle(PATHS)

    @task
    def get(self):
        self.client.get(next(self._paths))
