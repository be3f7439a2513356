"""Child pytest sessions for the harness's own reliability tests: start one, signal it, read its JUnit
report, list what it left on the engine; and a Docker engine socket whose connection we can cut."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.engine import Engine
from harness.waiting import wait_for
from tests.conftest import FIXTURES

# Held by a file: the parent decides when the child goes on (a test's body, not a readiness wait).
HOLD = """
def hold(name):
    import os, time
    from pathlib import Path
    Path(os.environ["HOLD_READY"]).write_text(name)
    release = Path(os.environ["HOLD_RELEASE"])
    deadline = time.monotonic() + 120
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def leftovers(engine: Engine, label: str) -> list[str]:
    """Names of the containers, networks and volumes carrying ``label`` (``key=value``)."""
    client = engine.client
    return ([c.name for c in client.containers.list(all=True, filters={"label": label}, ignore_removed=True)]
            + [n.name for n in client.networks.list(filters={"label": label})]
            + [v.name for v in client.volumes.list(filters={"label": label})])


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    env.update(HOLD_READY=str(tmp_path / "ready"), HOLD_RELEASE=str(tmp_path / "release"), **extra)
    return env


def pytest_command(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:locust",
            "--fixtures-dir", str(FIXTURES), f"--junitxml={tmp_path / 'junit.xml'}", *args, str(tmp_path)]


@dataclass
class ChildRun:
    returncode: int
    output: str
    seconds: float
    pid: int
    junit: Path

    def failures(self) -> dict[str, str]:
        """Test name -> the failure's (or error's) message, then the full report, from the JUnit file."""
        out = {}
        for case in ET.parse(self.junit).getroot().iter("testcase"):
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None and case.get("name") not in out:  # the test's own failure first
                    message = re.sub(r'^failed on \w+ with "(.*)"$', r"\1", node.get("message") or "", flags=re.S)
                    out[case.get("name")] = f"{message}\n{node.text or ''}"
        return out

    def durations(self) -> dict[str, float]:
        return {c.get("name"): float(c.get("time")) for c in ET.parse(self.junit).getroot().iter("testcase")}


def start(tmp_path: Path, source: str, *args: str, env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    (tmp_path / "test_child.py").write_text(source)
    return subprocess.Popen(pytest_command(tmp_path, *args), cwd=tmp_path, env=env or child_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(tmp_path: Path, source: str, *args: str, env: Optional[dict[str, str]] = None,
        timeout: float = 120) -> ChildRun:
    started = time.monotonic()
    child = start(tmp_path, source, *args, env=env)
    output, _ = child.communicate(timeout=timeout)
    return ChildRun(child.returncode, output, time.monotonic() - started, child.pid, tmp_path / "junit.xml")


def wait_until_held(tmp_path: Path, child: subprocess.Popen, timeout: float = 90) -> None:
    """Wait until the child's test called ``hold()`` (or the child ended: then fail with its output)."""
    try:
        wait_for(lambda: (tmp_path / "ready").exists() or child.poll() is not None, timeout=timeout,
                 what="the child run to reach its hold point")
    except BaseException:
        child.kill()
        raise
    assert child.poll() is None, child.stdout.read() if child.stdout else ""


class EngineProxy:
    """A Unix socket that forwards to the engine's socket, until :meth:`cut` closes it and every
    connection through it: to the run using it, the engine has died (the real one goes on)."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        self._server.close()
        self.path.unlink(missing_ok=True)
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
