import subprocess
import sys

import pytest

from harness.load.runner import LoadResult


def result(series):
    return LoadResult(requests=sum(s["requests"] for s in series), failures={"HTTPError: 404": 2}, elapsed_s=3.0,
                      percentiles_ms={"p50": 1.0, "p90": 2.0, "p99": 3.0, "p99.9": 4.0, "max": 9.0}, series=series)


def test_rps_leaves_out_the_ramp_up_and_the_tail():
    r = result([{"t": 0, "requests": 10, "failures": 0}, {"t": 1, "requests": 100, "failures": 0},
                {"t": 2, "requests": 120, "failures": 0}, {"t": 3, "requests": 5, "failures": 0}])
    assert r.rps == 110.0 and r.failed == 2
    assert r.summary().startswith("235 requests, 2 failed, 110 req/s; p50 1.0 ms")


def test_short_series_uses_what_there_is():
    assert result([{"t": 0, "requests": 40, "failures": 0}]).rps == 40.0
    assert result([]).rps == 0.0


def test_the_pytest_process_never_imports_locust():
    # in a fresh interpreter: other unit tests (the lean HTTP client's) import gevent on purpose
    check = ("import sys, harness.load, harness.pytest_plugin; "
             "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, sorted(sys.modules)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_distributed_mode_is_either_forked_processes_or_workers():
    from harness.load import LoadSpec
    assert LoadSpec(workers=2).distributed and not LoadSpec(processes=2).distributed
    with pytest.raises(ValueError, match="either processes .* or workers"):
        LoadSpec(processes=2, remote_workers=1)


def test_remote_workers_are_told_the_whole_command():
    from harness.load import LoadSpec
    from harness.load.runner import worker_instructions
    line = worker_instructions(LoadSpec(paths=("/a?x=1", "/b"), users=4, client="raw"), "10.0.0.5", 5600)
    assert line == ("HARNESS_LOAD_PATHS='/a?x=1,/b' HARNESS_LOAD_USERS=4 HARNESS_LOAD_CLIENT=raw "
                    "locust -f - --worker --master-host 10.0.0.5 --master-port 5600 --loglevel WARNING")
