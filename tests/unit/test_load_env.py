"""LoadEnv: the environment protocol between the harness and its locust processes."""
from __future__ import annotations

from harness.load.env import LoadEnv
from harness.load.runner import LoadSpec, load_env
from harness.perf.measure import schedule


def test_a_perf_run_with_more_than_nine_targets_round_trips():
    targets = tuple(f"http://10.0.0.{n}:8080" for n in range(12))
    env = LoadEnv(paths=("/a", "/b"), users=32, rate=6000.0, targets=targets, schedule=tuple(schedule(12, 30)),
                  round_s=1.0, control="/tmp/x", interleave="rounds")
    back = LoadEnv.from_environ(env.to_environ())
    assert back == env and max(back.schedule) == 11


def test_the_generic_run_writes_every_variable_and_reads_defaults_back():
    written = load_env(LoadSpec(users=4, rate=100, paths=("/count",), client="raw"), out="/tmp/r.json").to_environ()
    assert written["HARNESS_LOAD_CLIENT"] == "raw" and written["HARNESS_PERF_TARGETS"] == ""
    read = LoadEnv.from_environ(written)
    assert (read.paths, read.per_user_rate, read.out) == (("/count",), 25.0, "/tmp/r.json")
    assert LoadEnv.from_environ({}) == LoadEnv()
