"""What every harness container shares: labels, the internal network, and how the host reaches it."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from typing import Any, Literal, Optional, TypeVar

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.engine import shares_files_with_host
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession

LOOPBACK = "127.0.0.1"
ReachMode = Literal["direct", "published"]
C = TypeVar("C", bound="HarnessContainer")


@dataclass
class Reach:
    """How the host talks to containers.

    ``direct``: at their address on the internal network (Linux with a local engine).
    ``published``: through ports published on 127.0.0.1, which needs a second, non-internal
    "edge" network because the engine publishes no ports on internal networks.
    """

    mode: ReachMode
    internal: Network
    edge: Optional[Network] = None


class HarnessContainer(DockerContainer):
    """A labelled container on the session network; subclasses add readiness and their API.

    Least privilege: never privileged, ``no-new-privileges``, every capability dropped and only
    ``capabilities`` added back, running as ``user`` (empty: the image's user).
    """

    kind = "container"
    alias = ""
    capabilities: tuple[str, ...] = ()
    user = ""
    route_out = True  # False once cut_route_out() removed the default routes
    # set (before __init__) for a container joined to another's network namespace: it has no network
    # or published port of its own, and its addresses are the owner's
    netns_owner: Optional["HarnessContainer"] = None

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, ports: tuple[int, ...]) -> None:
        super().__init__(image.ref)
        self.resolved = image
        self.session = session
        self.reach = reach
        self.service_ports = ports
        self.start_timeout = 30.0  # seconds to become ready (with_start_timeout)
        self.with_name(session.name(self.kind))
        self.with_kwargs(labels={**session.labels, "harness.kind": self.kind}, **self.security_kwargs())
        if self.netns_owner is not None:
            pass  # joined to the owner's network namespace at start (the owner may not run yet)
        elif reach.mode == "published":
            assert reach.edge is not None
            self.with_network(reach.edge)
            for port in ports:
                # random host port, loopback only (docker-py takes (ip, port); testcontainers annotates int)
                self.ports[str(port)] = (LOOPBACK, None)  # type: ignore[assignment]
        else:
            self.with_network(reach.internal)
            if self.alias:
                self.with_network_aliases(self.alias)

    def with_start_timeout(self: C, seconds: float) -> C:
        """How long :meth:`start` waits for the container to be ready."""
        self.start_timeout = seconds
        return self

    def stop_quietly(self) -> None:
        """Stop; a container never created, or already gone, is no error."""
        try:
            self.stop()
        except Exception:  # noqa: BLE001
            pass

    def security_kwargs(self) -> dict[str, Any]:
        """What the engine is told about privileges (see the class docstring)."""
        kw: dict[str, Any] = {"privileged": False, "security_opt": ["no-new-privileges"], "cap_drop": ["ALL"],
                    "cap_add": list(self.capabilities)}
        if self.user:
            kw["user"] = self.user
        return kw

    def start(self) -> "HarnessContainer":
        if self.netns_owner is not None:
            self.with_kwargs(**self._kwargs, network_mode=f"container:{self.netns_owner.get_container_id()}")
        super().start()
        if self.netns_owner is not None:  # its network is the owner's, routes and all
            self.route_out = self.netns_owner.route_out
            self.get_wrapped_container().reload()
            return self
        if self.reach.mode == "published":
            self.reach.internal.connect(self.get_container_id(), [self.alias] if self.alias else None)
        self.get_wrapped_container().reload()
        self.cut_route_out()
        return self

    def cut_route_out(self) -> bool:
        """Remove the container's default routes, so that a connection to any address outside its
        networks fails at once (ENETUNREACH) and no packet is sent: the engine gives containers on
        internal networks a default route too, and only its firewall drops what takes it.

        Done from the host in the container's network namespace (``nsenter``), so the container
        needs no NET_ADMIN; possible where the engine runs on this host and we are root. Returns
        whether it was done (``route_out`` says whether a default route may remain)."""
        pid = (self.get_wrapped_container().attrs.get("State") or {}).get("Pid") or 0
        nsenter = shutil.which("nsenter")
        if not (pid and nsenter and os.geteuid() == 0 and shares_files_with_host(self.get_docker_client().client)):
            self.route_out = True
            return False
        # one default route per network with a gateway; one nsenter for all of them
        subprocess.run([nsenter, "-t", str(pid), "-n", "sh", "-c",
                        "for f in -4 -6; do while ip $f route del default 2>/dev/null; do :; done; done"],
                       capture_output=True, timeout=10)
        self.route_out = False
        return True

    @property
    def name(self) -> str:
        return self._name or self.get_container_id()[:12]

    # ---- addresses ---------------------------------------------------------------------------
    @property
    def ip(self) -> str:
        """The address other containers use (on the internal network)."""
        if self.netns_owner is not None:
            return self.netns_owner.ip
        nets = self.get_wrapped_container().attrs["NetworkSettings"]["Networks"]
        ip: str = nets[self.reach.internal.name]["IPAddress"]
        return ip

    def endpoint(self, port: int) -> tuple[str, int]:
        """(host, port) at which this process reaches the container's ``port``."""
        if self.netns_owner is not None:
            return self.netns_owner.endpoint(port)
        if self.reach.mode == "direct":
            return self.ip, port
        bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
        if not bindings:
            self.get_wrapped_container().reload()
            bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
        return LOOPBACK, int(bindings[0]["HostPort"])

    # ---- inside the container ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        c = self.get_wrapped_container()
        c.reload()
        state: dict[str, Any] = c.attrs["State"]
        return state

    def running(self) -> bool:
        """Whether the engine says the container runs."""
        try:
            return bool(self.state().get("Running"))
        except Exception:  # noqa: BLE001 - gone
            return False

    def sh(self, script: str) -> tuple[int, str]:
        """Run a shell script in the container; return (exit code, stdout+stderr)."""
        result = self.get_wrapped_container().exec_run(["sh", "-c", script])
        assert isinstance(result.output, bytes) and result.exit_code is not None  # not streamed: done
        return result.exit_code, result.output.decode(errors="replace")

    def read_file(self, path: str) -> bytes:
        """Read a file through the archive API (works on stopped containers too)."""
        stream, _ = self.get_wrapped_container().get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member else None
            return extracted.read() if extracted else b""

    def logs_text(self) -> str:
        out, err = self.get_logs()
        return (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
