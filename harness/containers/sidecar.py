"""A harness sidecar: one of our Python programs (harness/sidecars/) run in the tools image, with
an HTTP API of its own on the session network."""
from __future__ import annotations

from typing import Optional, TypeVar

import httpx

from harness.containers.base import HarnessContainer, Reach
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.resources import shipped
from harness.session import HarnessSession
from harness.waiting import wait_for

SIDECARS = shipped("harness.sidecars")
HARNESS = shipped("harness")
PY_ROOT = "/harness/py"  # where the sidecars' package is copied in the container
S = TypeVar("S", bound="SidecarContainer")


class SidecarContainer(HarnessContainer):
    """Runs ``harness/sidecars/<script>`` with ``args``; ready when ``GET ready_path`` on the API answers.

    The script and the ``modules`` it imports are copied into ``/harness/py`` as the package
    ``harness.sidecars`` and run with ``python3 -m``, so sidecars share code by plain imports."""

    script = ""
    modules: tuple[str, ...] = ()  # other files of harness/sidecars/ the script imports
    harness_modules: tuple[str, ...] = ()  # modules of the harness package itself it imports (stdlib-only ones)
    api_port = 0
    ready_path = "/"
    user = "65534:65534"  # nobody, with no capability; ports below 1024 are allowed by a sysctl instead

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, args: list[str]) -> None:
        super().__init__(image, session, reach, (self.api_port,))
        for name in ("harness/__init__.py", "harness/sidecars/__init__.py"):
            self.with_copy_into_container(b"", f"{PY_ROOT}/{name}")
        for name in (self.script, *self.modules):
            self.with_copy_into_container((SIDECARS / name).read_bytes(), f"{PY_ROOT}/harness/sidecars/{name}")
        for name in self.harness_modules:
            self.with_copy_into_container((HARNESS / name).read_bytes(), f"{PY_ROOT}/harness/{name}")
        self.with_env("PYTHONDONTWRITEBYTECODE", "1")
        self.with_env("PYTHONPATH", PY_ROOT)
        self.with_command(["python3", "-m", f"harness.sidecars.{self.script.removesuffix('.py')}", *args])
        if self.netns_owner is None:  # a namespace's sysctls are its owner's
            self.with_kwargs(**self._kwargs, sysctls={"net.ipv4.ip_unprivileged_port_start": "0"})
        self._api: Optional[httpx.Client] = None
        self.stopped = False

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            host, port = self.endpoint(self.api_port)
            self._api = httpx.Client(base_url=f"http://{host}:{port}", timeout=5)
        return self._api

    def start(self: S) -> S:
        super().start()

        def probe() -> bool:
            try:
                return self.api.get(self.ready_path).status_code == 200
            except httpx.TransportError:  # not listening yet: has it exited?
                if self.state().get("Status") in ("exited", "dead"):
                    raise HarnessError(f"{self.name} exited before it was ready: see its output",
                                       self.logs_text()) from None
                raise
        # Python's start is ~0.1-0.3 s: poll finely (the API answers a refused connection at once)
        wait_for(probe, timeout=self.start_timeout, what=f"{self.name} to answer on its API",
                 on_timeout=self.logs_text, interval=0.02, max_interval=0.1)
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        self.stopped = True
        if self._api is not None:
            self._api.close()
            self._api = None
        super().stop(force, delete_volume)
