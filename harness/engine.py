"""Find the Docker engine, or start one on a bare Debian machine."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import docker
from docker.errors import DockerException
from testcontainers.core.docker_client import get_docker_host

from harness.errors import EngineUnavailable

FIX = ("run `make setup` (on Debian as root it installs and starts dockerd), "
       "or start Docker and point DOCKER_HOST at it")
DOCKERD_LOG = Path("/var/log/harness-dockerd.log")


def engine_address() -> str:
    """Where the engine is looked for, as testcontainers does: testcontainers' ``tc.host``,
    ``DOCKER_HOST``, the current docker context (Docker Desktop), else the local socket."""
    return get_docker_host() or "unix:///var/run/docker.sock"


@dataclass
class Engine:
    """A Docker engine that answered a ping."""

    client: docker.DockerClient
    address: str

    @classmethod
    def connect(cls, timeout: float = 5.0) -> "Engine":
        """Connect and ping; raise :class:`EngineUnavailable` with the fix in one line."""
        address = engine_address()
        try:
            client = docker.DockerClient(base_url=address, timeout=max(int(timeout), 1))
            client.ping()
        except (DockerException, OSError) as exc:
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise EngineUnavailable(f"No Docker engine answers at {address} ({reason}): {FIX}") from None
        return cls(client=client, address=address)

    @property
    def is_local(self) -> bool:
        """True when the engine runs on this host's kernel (a local socket, not Docker Desktop's VM)."""
        if not self.address.startswith("unix://"):
            return False
        return platform.system() == "Linux" and "Docker Desktop" not in self.info().get("OperatingSystem", "")

    def info(self) -> dict[str, Any]:
        if not hasattr(self, "_info"):
            self._info = self.client.info()
        return self._info

    def describe(self) -> str:
        """One line: version, address, OS, storage and cgroup facts."""
        i = self.info()
        return (f"Docker {i.get('ServerVersion', '?')} at {self.address} ({i.get('OperatingSystem', '?')}, "
                f"{i.get('Driver', '?')}, cgroup v{i.get('CgroupVersion', '?')}, {i.get('NCPU', '?')} CPUs)")


_SHARES_FILES: dict[str, bool] = {}


def shares_files_with_host(client: docker.DockerClient) -> bool:
    """True when the engine runs on this host's kernel and file system (a local Linux socket, not
    Docker Desktop's VM or a remote engine): then a host directory can be bind-mounted."""
    base_url = client.api.base_url
    if base_url not in _SHARES_FILES:
        local = (platform.system() == "Linux" and base_url.startswith("http+docker://")
                 and "Docker Desktop" not in client.info().get("OperatingSystem", ""))
        _SHARES_FILES[base_url] = local
    return _SHARES_FILES[base_url]


def _is_debian_root() -> bool:
    return platform.system() == "Linux" and Path("/etc/debian_version").exists() and os.geteuid() == 0


def _apt_install(*packages: str, log: Callable[[str], None]) -> None:
    log(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   check=True, env=env, timeout=900, stdout=subprocess.DEVNULL)


def ensure_packages(commands: dict[str, str], log: Callable[[str], None] = print) -> None:
    """Install the Debian package for each missing command (``{command: package}``)."""
    missing = sorted({pkg for cmd, pkg in commands.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if not _is_debian_root():
        raise EngineUnavailable(f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)})")
    _apt_install(*missing, log=log)


def ensure_engine(timeout: float = 120.0, log: Callable[[str], None] = print) -> Engine:
    """Return a running engine; on Debian as root, install and start ``dockerd`` if none answers."""
    try:
        return Engine.connect()
    except EngineUnavailable:
        if os.environ.get("DOCKER_HOST") or not _is_debian_root():
            raise
    ensure_packages({"dockerd": "docker.io"}, log=log)
    log(f"starting dockerd in the background (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            engine = Engine.connect(timeout=3)
            log(f"engine up: {engine.describe()}")
            return engine
        except EngineUnavailable:
            if time.monotonic() > deadline:
                tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:] if DOCKERD_LOG.exists() else []
                raise EngineUnavailable(
                    f"dockerd did not answer within {timeout:.0f}s: see {DOCKERD_LOG}", "\n".join(tail)) from None
            time.sleep(0.5)
