"""YAML scenarios end to end: items in pytest, readable failures, spec errors, `harness run --app`
against an app that is not the sample, and the runner used without pytest."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenarios import ScenarioRunner, load_file
from tests.conftest import REPO

pytestmark = pytest.mark.integration

FAILING = """
name: the body is not what the scenario says
fixture:
  config: |
    location = /t {
        content_by_lua_block { ngx.log(ngx.ERR, "marker-line-77") ngx.say("actual body") }
    }
steps:
  - request: GET /t
    expect:
      status: 200
      body: "expected body\\n"
      no_error_log: ["marker-line-77"]
"""

APP_SERVER = """
location = /hello {
    default_type text/plain;
    content_by_lua_block { ngx.say(require("greeter").greet(ngx.var.arg_name)) }
}
"""

APP_LUA = """
local _M = {}

function _M.greet(name)
    return "hello, " .. (name or "stranger")
end

return _M
"""

APP_SCENARIOS = """
scenarios:
  - name: the app greets by name
    fixture: app
    steps:
      - request: GET /hello?name=ada
        expect: {status: 200, body: "hello, ada\\n", no_error_log: ["[error]"]}
      - fault: worker.kill
        request: GET /hello
        expect: {status: 200, body: "hello, stranger\\n", workers: {respawned: 1}}
    allow_log_problems: ["exited on signal 9"]
"""


def make_app(root: Path) -> Path:
    app = root / "my-app"
    (app / "lua").mkdir(parents=True)
    (app / "server.conf").write_text(APP_SERVER)
    (app / "lua" / "greeter.lua").write_text(APP_LUA)
    (root / "checks").mkdir()
    (root / "checks" / "greeter.scenario.yaml").write_text(APP_SCENARIOS)
    return app


def harness_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_failing_scenario_reads_as_a_diff_with_its_evidence(pytester, harness_stage):
    pytester.makefile(".scenario.yaml", bad=FAILING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*scenario 'the body is not what the scenario says' (*bad.scenario.yaml:1): FAILED*",
        "*GET /t -> 200 'actual body\\n'*",
        "*ok   status 200*",
        "*FAIL body*",
        "*expected: 'expected body\\n'*",
        "*actual:   'actual body\\n'*",
        "*-expected body*",
        "*+actual body*",
        "*FAIL no_error_log 'marker-line-77'*",
        "*error.log (this scenario)*",
        "*[[]error[]]*marker-line-77*",
        "*workers at the end*",
        "*nginx: worker process*",
        "*scenarios: 0/1 passed*",
    ])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="verdict" value="failed"' in junit and "marker-line-77" in junit


def test_a_malformed_scenario_fails_at_once_with_file_and_line(pytester):
    pytester.makefile(".scenario.yaml", bad="name: x\nsteps:\n  - request: GET /\n    expect: {satus: 200}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*scenario spec error: *bad.scenario.yaml:4: steps.0.expect.satus: "
                                 "unknown field 'satus'*"])
    assert result.duration < 30


def test_harness_run_against_an_app_that_is_not_the_sample(tmp_path, harness_stage):
    app = make_app(tmp_path)
    done = harness_run("checks", "--app", str(app), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the app greets by name" in done.stdout and "scenarios: 1/1 passed" in done.stdout
    html = (tmp_path / "reports" / "scenarios.html").read_text()
    assert "the app greets by name" in html and "passed" in html
    assert 'tests="1"' in (tmp_path / "reports" / "scenarios.xml").read_text()

    (app / "lua" / "greeter.lua").write_text(APP_LUA.replace('"hello, "', '"hi, "'))  # a regression
    failed = harness_run("checks", "--app", str(app), cwd=tmp_path)
    assert failed.returncode == 1 and "expected: 'hello, ada\\n'" in failed.stdout, failed.stdout[-3000:]


def test_harness_run_refuses_a_missing_app_in_one_line(tmp_path):
    done = harness_run("--app", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "app directory" in done.stderr and "not found" in done.stderr


def test_the_runner_without_pytest(harness_stage):
    faulty, healthy = load_file(REPO / "scenarios" / "catalogue" / "09-light-threads.scenario.yaml")
    assert faulty.scenario.faulty and not healthy.scenario.faulty
    runner = ScenarioRunner(harness_stage)
    for loaded in (healthy, faulty):
        result = runner.run(loaded)
        assert result.passed, result.format()
    assert max(runner.run(faulty).latencies_ms) > 2 * max(runner.run(healthy).latencies_ms)
