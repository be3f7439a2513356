"""Generic locustfile: GET the paths in $HARNESS_LOAD_PATHS (comma-separated) in turn, with
FastHttpUser, or with the lean RawHttpUser when $HARNESS_LOAD_CLIENT is "raw"; $HARNESS_LOAD_RATE
(requests/s over all users) paces them (see :class:`harness.load.env.LoadEnv`). Also runs standalone:
    HARNESS_LOAD_PATHS=/count locust -f harness/load/locustfile_paths.py --headless -u 10 -t 10s --host http://...
"""
import itertools

from locust import FastHttpUser, constant_throughput, task

import harness.load.recorder  # noqa: F401 - registers the HDR recorder
from harness.load.env import LoadEnv
from harness.load.rawhttp import RawHttpUser

ENV = LoadEnv.from_environ()  # read once: locust builds the user class from it
BASE = RawHttpUser if ENV.client == "raw" else FastHttpUser


class PathsUser(BASE):
    if ENV.per_user_rate:
        wait_time = constant_throughput(ENV.per_user_rate)

    def on_start(self) -> None:
        self._paths = itertools.cycle(ENV.paths)

    @task
    def get(self) -> None:
        self.client.get(next(self._paths))
