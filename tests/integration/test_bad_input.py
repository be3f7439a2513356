"""Every bad input is answered, in a child pytest run as a user would meet it: a one-line error that
names the fix, a non-zero exit, within a deadline, and nothing left on the engine."""
import json
import re
import socket
import tempfile
from pathlib import Path

import pytest

from harness.session import CONFIG_DIR_PREFIX, LABEL_PID, LABEL_SESSION, sweep_stale
from tests.integration import children
from tests.integration.children import leftovers

pytestmark = pytest.mark.integration

IN_TESTS = """
def test_invalid_nginx_config(openresty):
    openresty("broken-duplicate-dict", reuse=False)

def test_lua_syntax_error(openresty):
    openresty("broken-lua-syntax", reuse=False)

def test_unknown_fixture(openresty):
    openresty("no-such-fixture")

def test_missing_app_directory(openresty):
    openresty("/nonexistent/app-dir")

def test_never_ready(openresty):
    openresty.inline("return 204;", reuse=False, http_config=(
        "init_worker_by_lua_block { ngx.log(ngx.WARN, 'init_worker blocks on purpose') os.execute('sleep 600') }"))

def test_control_port_taken(openresty):
    openresty.inline("return 204;", http_config="server {\\n    listen 9901;\\n}")

def test_port_taken_by_another_socket(openresty):
    openresty("broken-port-taken", reuse=False)
"""

# test name -> (first line of the error: what happened and the fix, seconds it may take)
EXPECTED = {
    "test_invalid_nginx_config": (r"NginxConfigError: nginx -t rejected fixture 'broken-duplicate-dict': .*"
                                  r"lua_shared_dict.*broken-duplicate-dict/http\.conf:4", 10),
    "test_lua_syntax_error": (r"LuaSyntaxError: Lua syntax error in fixture 'broken-lua-syntax': "
                              r".*broken-lua-syntax/lua/greeting\.lua:5: 'then' expected", 10),
    "test_unknown_fixture": (r"FixtureNotFound: fixture 'no-such-fixture' not found \(looked in .*\): "
                             r"create nginx-fixtures/no-such-fixture/server\.conf or pass a directory path", 5),
    "test_missing_app_directory": (r"FixtureNotFound: app directory '/nonexistent/app-dir' does not exist: "
                                   r"pass the path of a directory with server\.conf or http\.conf", 5),
    "test_never_ready": (r"ReadinessTimeout: timed out after 3\.0s waiting for harness-\S+-openresty-\d+ to serve "
                         r"config generation 1 .*is a worker stuck in init_worker_by_lua.*HARNESS_START_TIMEOUT", 12),
    "test_control_port_taken": (r"PortTaken: http\.conf:2: port 9901 is taken by the harness's control server: "
                                r"listen on another port", 5),
    "test_port_taken_by_another_socket": (r"HarnessError: harness-\S+-openresty-\d+ exited with code 1 before it was "
                                          r"ready \(bind\(\) to 0\.0\.0\.0:8080 failed \(98: Address already in use\)\)"
                                          r": see error\.log", 15),
}


def first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""


def assert_nothing_left(engine, run: children.ChildRun) -> None:
    assert leftovers(engine, f"{LABEL_PID}={run.pid}") == [], run.output
    record = run.junit.parent / "reports" / "run.json"
    if record.exists():  # the run used an engine: its read-only config directories went too
        session = json.loads(record.read_text())["session"]
        assert not list(Path(tempfile.gettempdir()).glob(f"{CONFIG_DIR_PREFIX}{session}-*"))


def test_bad_inputs_in_tests_fail_at_once_with_the_fix(tmp_path, harness_stage):
    run = children.run(tmp_path, IN_TESTS, env=children.child_env(tmp_path, HARNESS_START_TIMEOUT="3"))
    assert run.returncode == 1, run.output
    assert run.seconds < 90, run.output
    failures, durations = run.failures(), run.durations()
    assert set(failures) == set(EXPECTED), run.output
    for name, (pattern, deadline) in EXPECTED.items():
        line = first_line(failures[name])
        assert re.fullmatch(r"harness\.errors\." + pattern + r".*", line), f"{name}: {line}"
        assert durations[name] < deadline, f"{name} took {durations[name]:.1f}s"
    never_ready = failures["test_never_ready"]
    # the explanation: the error.log line of the stuck worker (the container's own output is empty here: nginx
    # logs to error.log; "--- container output ---" only ever matched the explaining code's source in the traceback)
    assert re.search(r"--- last 20 lines of error\.log ---\n(E +.*\n)*E +\S+ \S+ \[warn\] \d+#\d+: .*init_worker blocks "
                     r"on purpose, context: init_worker_by_lua", never_ready), never_ready
    assert_nothing_left(harness_stage.engine, run)


IMAGE_TEST = """
def test_needs_openresty(openresty):
    openresty("hello")
"""


def test_missing_image_with_no_registry(tmp_path, harness_stage):
    run = children.run(tmp_path, IMAGE_TEST, "--openresty-image", "openresty-harness/no-such-image:1")
    assert run.returncode == 1 and run.seconds < 60, run.output
    line = first_line(run.failures()["test_needs_openresty"])
    assert re.fullmatch(r"harness\.errors\.ImageUnavailable: openresty image openresty-harness/no-such-image:1 "
                        r"\(from HARNESS_OPENRESTY_IMAGE/--openresty-image\) is not on the engine and cannot be "
                        r"pulled \(.+\): build or load it, or unset HARNESS_OPENRESTY_IMAGE", line), line
    assert_nothing_left(harness_stage.engine, run)


@pytest.fixture
def silent_listener():
    """A TCP port on loopback that accepts connections and never answers (not a Docker engine)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("where", ["absent socket", "closed port", "not an engine"])
def test_no_engine_or_a_wrong_docker_host(tmp_path, harness_stage, silent_listener, where):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    docker_host = {"absent socket": f"unix://{tmp_path}/absent.sock",
                   "closed port": f"tcp://127.0.0.1:{closed_port}",
                   "not an engine": f"tcp://127.0.0.1:{silent_listener}"}[where]
    env = children.child_env(tmp_path, DOCKER_HOST=docker_host, CI="true")
    run = children.run(tmp_path, IMAGE_TEST, env=env)
    assert run.returncode == 1, run.output
    assert run.seconds < 30, run.output  # the engine's client gives up after 5 s
    line = first_line(run.failures()["test_needs_openresty"])
    assert line.startswith(f"Failed: No Docker engine answers at {docker_host} ("), line
    assert line.endswith("or start Docker and point DOCKER_HOST at it (CI=true: integration tests never skip)"), line


ENGINE_DIES = children.HOLD + """
def test_engine_dies_under_it(openresty, redis):
    nginx = openresty("hello")
    hold(nginx.name)
    nginx.state()  # the engine is gone by now (worker tables would not notice: the agent reads them)
"""


def test_engine_dying_mid_run(tmp_path, harness_stage):
    engine = harness_stage.engine
    if not engine.address.startswith("unix://"):
        pytest.skip("the engine proxy forwards a Unix socket")
    proxy = children.EngineProxy(tmp_path / "engine.sock", engine.address.removeprefix("unix://"))
    env = children.child_env(tmp_path, DOCKER_HOST=proxy.address, CI="true")
    child = children.start(tmp_path, ENGINE_DIES, env=env)
    children.wait_until_held(tmp_path, child)
    label = f"{LABEL_PID}={child.pid}"
    session = engine.client.containers.list(filters={"label": label})[0].labels[LABEL_SESSION]
    proxy.cut()
    (tmp_path / "release").write_text("")
    output, _ = child.communicate(timeout=60)
    run = children.ChildRun(child.returncode, output, 0, child.pid, tmp_path / "junit.xml")
    assert run.returncode == 1, output
    line = first_line(run.failures()["test_engine_dies_under_it"])
    assert re.fullmatch(rf"harness\.errors\.EngineLost: the Docker engine at {proxy.address} stopped answering "
                        r"during the run \(.+\): check that dockerd runs \(`make setup` starts it\); the next run "
                        r"sweeps what this one left", line), line
    assert "INTERNALERROR" not in output
    assert f"harness: the Docker engine at {proxy.address} stopped answering" in output
    # The real engine lives on: what the run could not remove, the next run's sweep does.
    assert leftovers(engine, label)
    sweep_stale(engine)
    assert leftovers(engine, label) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"{CONFIG_DIR_PREFIX}{session}-*"))
