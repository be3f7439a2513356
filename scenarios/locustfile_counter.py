"""Load for the redis-counter fixture app. Runs from the harness (harness.load.run_load with
locustfile=...) or standalone:

    .venv/bin/locust -f scenarios/locustfile_counter.py --headless -u 20 -r 20 -t 30s --host http://ADDRESS:8080
"""
from locust import FastHttpUser, between, task

import harness.load.recorder  # noqa: F401 - HDR percentiles and a per-second series ($HARNESS_LOAD_OUT)


class CounterUser(FastHttpUser):
    wait_time = between(0, 0.01)

    @task(9)
    def count(self):
        self.client.get("/count?key=load")

    @task(1)
    def count_other(self):
        self.client.get("/count?key=other")
