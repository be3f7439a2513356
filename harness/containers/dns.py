"""DnsContainer: the harness's own DNS server on the session network, answers set per name."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import dnslib
from harness.containers.base import Reach
from harness.containers.sidecar import SidecarContainer
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession

DNS_PORT = 53
API_PORT = 8053


class DnsContainer(SidecarContainer):
    """Runs ``harness/sidecars/dns_server.py`` (dnslib) in the tools image.

    ``dns.answer("redis.harness.test", a=redis.ip)``, ``with dns.answering(name, rcode="SERVFAIL"): ...``
    OpenResty containers started afterwards get ``DNS_SERVER`` (for the ``resolver`` directive).
    """

    kind = "dns"
    alias = "dns"
    script = "dns_server.py"
    api_port = API_PORT
    ready_path = "/records"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach) -> None:
        super().__init__(image, session, reach, ["--port", str(DNS_PORT), "--api", str(API_PORT)])
        self.with_copy_into_container(Path(dnslib.__file__).resolve().parent, "/harness/pylib")
        self.with_env("PYTHONPATH", "/harness/pylib")

    def service_env(self) -> dict[str, str]:
        return {"DNS_SERVER": self.ip}

    def answer(self, name: str, *, a: Optional[str] = None, rcode: Optional[str] = None,
               timeout: bool = False, ttl: int = 1) -> None:
        """Set how ``name`` is answered: ``a=`` an address, ``rcode="NXDOMAIN"|"SERVFAIL"``, or
        ``timeout=True`` (no answer at all)."""
        if sum(x is not None for x in (a, rcode, timeout or None)) != 1:
            raise ValueError("give exactly one of a=, rcode= or timeout=True")
        body = {"a": a, "ttl": ttl} if a else {"rcode": rcode} if rcode else {"timeout": True}
        r = self.api.put(f"/records/{name}", json=body)
        if r.status_code != 200:
            raise HarnessError(f"{self.name} refused the answer for {name}: {r.text}")

    def forget(self, name: str) -> None:
        self.api.delete(f"/records/{name}")

    def records(self) -> dict:
        return self.api.get("/records").json()

    @contextlib.contextmanager
    def answering(self, name: str, **answer) -> Iterator[None]:
        """Answer ``name`` differently inside the block; the previous answer comes back after it."""
        previous = self.records().get(name.rstrip(".").lower() + ".")
        self.answer(name, **answer)
        try:
            yield
        finally:
            if previous is None:
                self.forget(name)
            else:
                self.api.put(f"/records/{name}", json=previous)

