"""What every harness container shares: labels, the internal network, and how the host reaches it."""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import Optional

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession

LOOPBACK = "127.0.0.1"


@dataclass
class Reach:
    """How the host talks to containers.

    ``direct``: at their address on the internal network (Linux with a local engine).
    ``published``: through ports published on 127.0.0.1, which needs a second, non-internal
    "edge" network because the engine publishes no ports on internal networks.
    """

    mode: str  # "direct" | "published"
    internal: Network
    edge: Optional[Network] = None


class HarnessContainer(DockerContainer):
    """A labelled container on the session network; subclasses add readiness and their API."""

    kind = "container"
    alias = ""

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, ports: tuple[int, ...]) -> None:
        super().__init__(image.ref)
        self.resolved = image
        self.session = session
        self.reach = reach
        self.service_ports = ports
        self.with_name(session.name(self.kind))
        self.with_kwargs(labels={**session.labels, "harness.kind": self.kind},
                         security_opt=["no-new-privileges"])
        if reach.mode == "published":
            assert reach.edge is not None
            self.with_network(reach.edge)
            for port in ports:
                self.ports[str(port)] = (LOOPBACK, None)  # random host port, loopback only
        else:
            self.with_network(reach.internal)
            if self.alias:
                self.with_network_aliases(self.alias)

    def start(self) -> "HarnessContainer":
        super().start()
        if self.reach.mode == "published":
            self.reach.internal.connect(self.get_container_id(), [self.alias] if self.alias else None)
        self.get_wrapped_container().reload()
        return self

    @property
    def name(self) -> str:
        return self._name or self.get_container_id()[:12]

    # ---- addresses ---------------------------------------------------------------------------
    @property
    def ip(self) -> str:
        """The address other containers use (on the internal network)."""
        nets = self.get_wrapped_container().attrs["NetworkSettings"]["Networks"]
        return nets[self.reach.internal.name]["IPAddress"]

    def endpoint(self, port: int) -> tuple[str, int]:
        """(host, port) at which this process reaches the container's ``port``."""
        if self.reach.mode == "direct":
            return self.ip, port
        bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
        if not bindings:
            self.get_wrapped_container().reload()
            bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
        return LOOPBACK, int(bindings[0]["HostPort"])

    # ---- inside the container ----------------------------------------------------------------
    def state(self) -> dict:
        c = self.get_wrapped_container()
        c.reload()
        return c.attrs["State"]

    def sh(self, script: str) -> tuple[int, str]:
        """Run a shell script in the container; return (exit code, stdout+stderr)."""
        result = self.get_wrapped_container().exec_run(["sh", "-c", script])
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
