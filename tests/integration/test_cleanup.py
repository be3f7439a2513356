"""Nothing outlives a run: not a normal end, not Ctrl-C, not SIGTERM, not SIGKILL (the next run
sweeps), whether the signal comes while a container starts, in a test's body or during teardown."""
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.session import CONFIG_DIR_PREFIX, LABEL_PID, LABEL_SESSION, sweep_stale
from harness.waiting import wait_for
from tests.integration import children
from tests.integration.children import leftovers

pytestmark = pytest.mark.integration

# Each child stops at one point of its run; the parent signals it there.
PHASES = {
    # The harness waits for an OpenResty whose workers never get ready (so the signal lands in the
    # readiness wait, with the container created and running).
    "container start": """
def test_starting(openresty, redis):
    openresty.inline("return 204;", reuse=False, http_config=(
        "init_worker_by_lua_block { os.execute('sleep 600') }"))
""",
    "mid-test": children.HOLD + """
def test_hold(openresty, redis):
    hold(openresty("hello").name)
""",
    # After the harness released the test's OpenResty (idle in the pool), another fixture tears down.
    "teardown": children.HOLD + """
import pytest

@pytest.fixture
def slow_teardown():
    yield
    hold("teardown")

def test_done(slow_teardown, openresty, redis):
    openresty("hello")
""",
}

QUICK_TEST = """
def test_quick(harness_stage):
    assert harness_stage.session.id
"""


def stop_point_reached(tmp_path: Path, child: subprocess.Popen, engine, phase: str) -> None:
    if phase != "container start":
        return children.wait_until_held(tmp_path, child)

    def starting() -> bool:
        assert child.poll() is None, child.stdout.read()
        return any(c.status == "running" for c in engine.client.containers.list(
            filters={"label": [f"{LABEL_PID}={child.pid}", "harness.kind=openresty"]}, ignore_removed=True))
    wait_for(starting, timeout=90, what="the child's OpenResty container to be created and running")


def config_dirs(session: str) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{CONFIG_DIR_PREFIX}{session}-*"))


@pytest.fixture
def engine(harness_stage):
    return harness_stage.engine


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("phase", list(PHASES))
def test_no_leak_whenever_the_run_is_signalled(tmp_path, engine, phase, sig):
    env = children.child_env(tmp_path, HARNESS_START_TIMEOUT="120")
    child = children.start(tmp_path, PHASES[phase], env=env)
    try:
        stop_point_reached(tmp_path, child, engine, phase)
    except BaseException:
        child.kill()
        raise
    label = f"{LABEL_PID}={child.pid}"
    made = leftovers(engine, label)
    assert len(made) >= 3, made  # openresty, redis, network at least
    session = engine.client.containers.list(all=True, filters={"label": label})[0].labels[LABEL_SESSION]
    assert config_dirs(session)

    child.send_signal(sig)
    output, _ = child.communicate(timeout=60)
    assert child.returncode != 0, output
    if sig != signal.SIGKILL:  # the run cleans up after itself
        assert leftovers(engine, label) == [], output
    else:  # no chance to: the next run's sweep (the same call every run makes at its start) does
        assert leftovers(engine, label), "SIGKILL gives no chance to clean up"
        sweep_stale(engine)
        assert leftovers(engine, label) == []
    assert config_dirs(session) == []


def test_killed_run_is_swept_by_the_next_run(tmp_path, engine):
    child = children.start(tmp_path, PHASES["mid-test"])
    children.wait_until_held(tmp_path, child)
    label = f"{LABEL_PID}={child.pid}"
    session = engine.client.containers.list(filters={"label": label})[0].labels[LABEL_SESSION]
    child.kill()
    child.wait(timeout=30)
    assert leftovers(engine, f"{LABEL_SESSION}={session}"), "SIGKILL gives no chance to clean up"

    next_dir = tmp_path / "next"
    next_dir.mkdir()
    (next_dir / "test_quick.py").write_text(QUICK_TEST)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(next_dir)],
                            cwd=next_dir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Another engineer's killed run may be swept too: at least this one's resources.
    assert re.search(r"harness sweep: removed [1-9]\d* container\(s\), [1-9]\d* network\(s\)", result.stdout) \
        or leftovers(engine, f"{LABEL_SESSION}={session}") == [], result.stdout
    assert leftovers(engine, f"{LABEL_SESSION}={session}") == []


def test_stage_close_removes_everything_of_its_session(engine, harness_stage):
    from harness.settings import Settings
    from harness.stage import Stage

    stage = Stage(engine, Settings.from_sources({}, environ={}), resolver=harness_stage.resolver)
    stage.redis()
    stage.openresty("hello")
    label = f"{LABEL_SESSION}={stage.session.id}"
    assert len(leftovers(engine, label)) == 3
    stage.close()
    assert leftovers(engine, label) == []


TWO_RUNS = """
def test_a(openresty, redis):
    with openresty("redis-counter").client() as client:
        assert client.get("/count").text == "1\\n"

def test_b(openresty, redis, dns):
    with openresty("hello", workers=2).client() as client:
        assert client.get("/").text.startswith("hello from worker")
"""


def test_two_runs_at_once_do_not_disturb_each_other(tmp_path, engine):
    """Two separate runs (as two `make test` would) at the same time: both pass, and neither's sweep
    (each sweeps at its start) removes the other's containers."""
    dirs = [tmp_path / "one", tmp_path / "two"]
    runs = []
    for d in dirs:
        d.mkdir()
        runs.append(children.start(d, TWO_RUNS, env=children.child_env(d)))
    outputs = [r.communicate(timeout=180)[0] for r in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output
        assert "2 passed" in output, output
        assert leftovers(engine, f"{LABEL_PID}={run.pid}") == []
