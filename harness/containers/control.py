"""The harness's own line to a running OpenResty's workers: its control server (port 9901, served by
the workers) says which config generation answers, serves error.log from a byte offset and settles
the workers first; when it does not answer (workers hung, container stopped) the file is read inside
the container (:class:`harness.containers.transport.ContainerIO`) or, stopped, through the engine."""
from __future__ import annotations

import json
from typing import Any, Optional, Protocol

import httpx

from harness.containers.transport import ContainerIO
from harness.errorlog import LogRead
from harness.nginx_conf import CONTROL_PATH, CONTROL_PORT, ERROR_LOG, GENERATION_PATH, LOG_PATH


class Box(Protocol):
    """What the channel needs of the container it talks to (a :class:`HarnessContainer` has it)."""

    def endpoint(self, port: int) -> tuple[str, int]: ...

    def state(self) -> dict[str, Any]: ...

    def read_file(self, path: str) -> bytes: ...


class ControlChannel:
    """Talks to one container's control server; one kept-alive httpx client (a new one costs ~15 ms).
    ``io`` reads error.log inside the container when the control server does not answer."""

    def __init__(self, box: Box, io: ContainerIO, client: Optional[httpx.Client] = None) -> None:
        self.box = box
        self.io = io
        self._client = client  # made on first use unless given

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=2.0)
        return self._client

    def url(self, path: str) -> str:
        host, port = self.box.endpoint(CONTROL_PORT)
        return f"http://{host}:{port}{path}"

    def status(self, timeout: float = 2.0) -> Optional[dict[str, Any]]:
        """What the answering generation reports (generation, worker pid, jit, nginx, ngx_lua versions),
        or None when the control server answers with an error. Connection errors propagate."""
        r = self.client.get(self.url(CONTROL_PATH), timeout=timeout, headers={"Connection": "close"})
        return json.loads(r.text) if r.status_code == 200 else None

    def generation(self, timeout: float = 2.0) -> Optional[dict[str, Any]]:
        """The answering generation and nginx version (``{"generation": 3, "nginx": 1022001}``), asked
        without running Lua in the worker; None on an error status. Connection errors propagate."""
        r = self.client.get(self.url(GENERATION_PATH), timeout=timeout, headers={"Connection": "close"})
        if r.status_code != 200:
            return None
        info = json.loads(r.text)
        major, minor, patch = (int(part) for part in str(info.pop("nginx_version")).split(".")[:3])
        return {**info, "nginx": major * 1000000 + minor * 1000 + patch}

    def serves(self, generation: int) -> bool:
        """Whether config generation ``generation`` answers (False on any failure)."""
        try:
            info = self.status()
        except Exception:  # noqa: BLE001
            return False
        return info is not None and info.get("generation") == generation

    def read_error_log(self, since: int = 0, settle: Optional[float] = None) -> LogRead:
        """error.log from byte ``since``: through the control server (milliseconds), else through the
        engine. With ``settle`` (seconds), first wait until every worker finished what it was doing."""
        try:
            params = {"since": since, **({"settle": settle} if settle is not None else {})}
            r = self.client.get(self.url(LOG_PATH), params=params, timeout=(settle or 0) + 2.0)
            if r.status_code == 200:
                start = int(r.headers.get("X-Harness-Log-From", since))  # < since: the file was rotated
                return LogRead(r.content.decode(errors="replace"), start, r.headers.get("X-Harness-Settled", ""),
                               start + len(r.content))
        except httpx.HTTPError:
            pass
        try:
            if self.box.state().get("Running"):
                chunk = self.io.read_log(since)
                return LogRead(chunk.text if chunk is not None else "", since, "unreachable")
            # stopped: nothing more will be written, so the read is as settled as it gets
            return LogRead(self.box.read_file(ERROR_LOG)[since:].decode(errors="replace"), since, "stopped")
        except Exception:  # noqa: BLE001 - used in failure reports; never mask the original error
            return LogRead("", since, "unreachable")

    def error_log_size(self) -> int:
        """The current length of error.log in bytes (where a cursor set now would start)."""
        try:
            r = self.client.get(self.url(LOG_PATH), params={"size": 1}, timeout=2.0)
            if r.status_code == 200 and "X-Harness-Log-End" in r.headers:
                return int(r.headers["X-Harness-Log-End"])
        except httpx.HTTPError:
            pass
        return self.io.log_size() or 0

    def settle(self, timeout: float = 2.0) -> str:
        """Wait until every worker has finished what it was doing now; the settle status ("yes",
        "busy:<worker>=<pid>,...", ...; see :class:`harness.errorlog.LogRead`)."""
        return self.read_error_log(self.error_log_size(), settle=timeout).settled

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
