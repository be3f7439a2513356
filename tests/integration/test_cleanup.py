"""Nothing outlives a run: not a normal end, not Ctrl-C, not SIGTERM, not SIGKILL (the next run sweeps)."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engine import Engine
from harness.session import LABEL_PID, LABEL_SESSION
from harness.waiting import wait_for

pytestmark = pytest.mark.integration

HOLDING_TEST = """
import os, time
from pathlib import Path

def test_hold(openresty, redis):
    nginx = openresty("hello")
    Path(os.environ["HOLD_READY"]).write_text(nginx.name)
    release = Path(os.environ["HOLD_RELEASE"])
    deadline = time.monotonic() + 120
    while not release.exists() and time.monotonic() < deadline:   # held until the parent signals us
        time.sleep(0.05)
"""

QUICK_TEST = """
def test_quick(harness_stage):
    assert harness_stage.session.id
"""


def leftovers(engine: Engine, label: str) -> list[str]:
    client = engine.client
    return ([c.name for c in client.containers.list(all=True, filters={"label": label})]
            + [n.name for n in client.networks.list(filters={"label": label})]
            + [v.name for v in client.volumes.list(filters={"label": label})])


def start_holding_run(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    (tmp_path / "test_hold.py").write_text(HOLDING_TEST)
    env = {**os.environ, "HOLD_READY": str(tmp_path / "ready"), "HOLD_RELEASE": str(tmp_path / "release")}
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (tmp_path / "ready").exists() or child.poll() is not None, timeout=90,
                 what="the child run to start its containers")
    except BaseException:
        child.kill()
        raise
    assert child.poll() is None, child.stdout.read()
    return child, f"{LABEL_PID}={child.pid}"


@pytest.fixture
def engine(harness_stage):
    return harness_stage.engine


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_removes_its_own_containers(tmp_path, engine, sig):
    child, label = start_holding_run(tmp_path)
    assert len(leftovers(engine, label)) >= 3  # openresty, redis, network
    child.send_signal(sig)
    output, _ = child.communicate(timeout=60)
    assert child.returncode != 0
    assert leftovers(engine, label) == [], output


def test_killed_run_is_swept_by_the_next_run(tmp_path, engine):
    child, label = start_holding_run(tmp_path)
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
    assert re.search(r"harness sweep: removed [1-9]\d* container\(s\), [1-9]\d* network\(s\)", result.stdout)
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
