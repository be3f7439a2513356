"""Labels on everything the harness creates, clean-up at the end, and the sweep of dead runs.

Every container, network and volume carries ``harness.session`` plus the owning process
(``harness.pid``, ``harness.pid-start``, ``harness.host``). A run removes its own resources when
it ends; at start it removes what runs on this host whose process is gone left behind.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from docker.errors import APIError, NotFound

from harness.engine import Engine

LABEL_SESSION = "harness.session"
LABEL_PID = "harness.pid"
LABEL_PID_START = "harness.pid-start"
LABEL_HOST = "harness.host"
CONFIG_DIR_PREFIX = "harness-conf-"  # host directories bind-mounted read-only into OpenResty containers

log = logging.getLogger(__name__)


def process_stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state first), [] if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[1].split()


def process_start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), '' if unknown or gone."""
    fields = process_stat(pid)
    return fields[19] if fields else ""


def process_alive(pid: int, start: str) -> bool:
    """True if ``pid`` runs and is the same process (same start time) that made the label; a killed
    process its parent has not reaped yet (a zombie) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start and Path("/proc").is_dir():
        fields = process_stat(pid)  # one read: its state (Z: a zombie) and its start time
        return bool(fields) and fields[19] == start and fields[0] != "Z"
    return True


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def __str__(self) -> str:
        return f"{len(self.containers)} container(s), {len(self.networks)} network(s), {len(self.volumes)} volume(s)"


class HarnessSession:
    """One run of the harness: its id, its labels and its clean-up."""

    def __init__(self, engine: Engine, session_id: Optional[str] = None) -> None:
        self.engine = engine
        self.id = session_id or uuid.uuid4().hex[:10]
        pid = os.getpid()
        self.labels: dict[str, str] = {
            LABEL_SESSION: self.id,
            LABEL_PID: str(pid),
            LABEL_PID_START: process_start_time(pid),
            LABEL_HOST: socket.gethostname(),
        }
        self._counter = 0
        self._closed = False

    def name(self, kind: str) -> str:
        """A unique, readable resource name: ``harness-<session>-<kind>-<n>``."""
        self._counter += 1
        return f"harness-{self.id}-{kind}-{self._counter}"

    def cleanup(self) -> Removed:
        """Remove every resource labelled with this session. Safe to call more than once."""
        self._closed = True
        return remove_labelled(self.engine, f"{LABEL_SESSION}={self.id}")

    def install_exit_handlers(self) -> None:
        """Clean up at interpreter exit, and turn SIGTERM into KeyboardInterrupt so teardown runs."""
        atexit.register(self._atexit)
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_interrupt)

    def _atexit(self) -> None:
        if not self._closed:
            try:
                self.cleanup()
            except Exception:  # noqa: BLE001 - the engine may be gone at exit
                log.debug("clean-up at exit failed", exc_info=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"signal {signum}")


def remove_labelled(engine: Engine, label_filter: str, keep: Optional[Callable[[dict[str, str]], bool]] = None) -> Removed:
    """Remove containers, then networks, then volumes matching ``label_filter`` (``key=value`` or ``key``).

    ``keep(labels)`` may spare some resources (used by :func:`sweep_stale`).
    """
    client = engine.client
    removed = Removed()
    keep = keep or (lambda labels: False)
    # ignore_removed: a live run may remove its own container between the listing and its inspection
    for c in client.containers.list(all=True, filters={"label": label_filter}, ignore_removed=True):
        if not keep(c.labels) and _removed("container", c.name, partial(c.remove, force=True, v=True)):
            removed.containers.append(str(c.name))
            _remove_config_dirs(c.attrs.get("Mounts") or [])
    for n in client.networks.list(filters={"label": label_filter}):
        if not keep(n.attrs.get("Labels") or {}) and _removed("network", n.name, n.remove):
            removed.networks.append(str(n.name))
    for v in client.volumes.list(filters={"label": label_filter}):
        if not keep(v.attrs.get("Labels") or {}) and _removed("volume", v.name, partial(v.remove, force=True)):
            removed.volumes.append(v.name)
    return removed


def _removed(kind: str, name: object, remove: Callable[[], object]) -> bool:
    """Whether ``remove()`` removed the resource (already gone: no; an engine error is logged)."""
    try:
        remove()
    except NotFound:
        return False
    except APIError as exc:
        log.warning("could not remove %s %s: %s", kind, name, exc)
        return False
    return True


def _remove_config_dirs(mounts: list[dict[str, Any]]) -> None:
    """Remove the host directories behind a removed container's read-only config mounts."""
    for mount in mounts:
        source = Path(mount.get("Source") or "")
        if mount.get("Type") == "bind" and source.parent.name.startswith(CONFIG_DIR_PREFIX):
            shutil.rmtree(source.parent, ignore_errors=True)


def sweep_stale(engine: Engine) -> Removed:
    """Remove resources left by harness runs on this host whose process has ended."""
    host = socket.gethostname()

    def keep(labels: dict[str, str]) -> bool:
        if labels.get(LABEL_HOST) != host:
            return True  # another machine's run on a shared engine: not ours to judge
        try:
            pid = int(labels.get(LABEL_PID, ""))
        except ValueError:
            return False
        return process_alive(pid, labels.get(LABEL_PID_START, ""))

    return remove_labelled(engine, LABEL_SESSION, keep=keep)
