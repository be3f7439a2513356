"""DnsContainer: the harness's own DNS server on the session network, answers set per name."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import dnslib
from harness.containers.base import Reach
from harness.containers.sidecar import PY_ROOT, SidecarContainer
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession
from harness.waiting import wait_for

DNS_PORT = 53
API_PORT = 8053


def canonical(name: str) -> str:
    """``Redis.Harness.Test`` -> ``redis.harness.test.`` (how the server keys names)."""
    return name.rstrip(".").lower() + "."


@dataclass(frozen=True)
class DnsQuery:
    """One query the server answered: ``answer`` is an address, NXDOMAIN, SERVFAIL, NOERROR (no
    record of that type) or ``timeout`` (nothing sent back). ``time`` is the server's clock (epoch s)."""

    name: str
    type: str
    time: float
    answer: str


@dataclass
class AnswerChange:
    """What :meth:`DnsContainer.answering` yields: when the new answer took effect (server clock),
    when the old one came back (after the block), and the queries asked in between."""

    dns: "DnsContainer"
    name: str
    since: float
    restored: Optional[float] = None

    def queries(self) -> list[DnsQuery]:
        return [q for q in self.dns.queries(self.name, after=self.since)
                if self.restored is None or q.time <= self.restored]

    def wait_for_query(self, timeout: float = 10.0, poke: Optional[Callable[[], object]] = None) -> DnsQuery:
        """The first query for the name since the change (see :meth:`DnsContainer.wait_for_query`)."""
        return self.dns.wait_for_query(self.name, after=self.since, timeout=timeout, poke=poke)


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
        self.with_env("PYTHONPATH", f"{PY_ROOT}:/harness/pylib")

    def service_env(self) -> dict[str, str]:
        return {"DNS_SERVER": self.ip}

    def answer(self, name: str, *, a: Optional[str] = None, rcode: Optional[str] = None,
               timeout: bool = False, ttl: int = 1) -> float:
        """Set how ``name`` is answered: ``a=`` an address, ``rcode="NXDOMAIN"|"SERVFAIL"``, or
        ``timeout=True`` (no answer at all). Returns when it took effect (server clock)."""
        if sum(x is not None for x in (a, rcode, timeout or None)) != 1:
            raise ValueError("give exactly one of a=, rcode= or timeout=True")
        body = {"a": a, "ttl": ttl} if a else {"rcode": rcode} if rcode else {"timeout": True}
        return self._put(name, body)

    def _put(self, name: str, body: dict[str, Any]) -> float:
        r = self.api.put(f"/records/{name}", json=body)
        if r.status_code != 200:
            raise HarnessError(f"{self.name} refused the answer for {name}: {r.text}")
        return float(r.json()["time"])

    def forget(self, name: str) -> float:
        """Stop answering ``name`` (unknown names are NXDOMAIN); returns when (server clock)."""
        return float(self.api.delete(f"/records/{name}").json()["time"])

    def reset(self) -> None:
        """Forget every answer set (between tests): unknown names are NXDOMAIN again."""
        for name in self.records():
            self.forget(name)

    def records(self) -> dict[str, Any]:
        records: dict[str, Any] = self.api.get("/records").json()
        return records

    def now(self) -> float:
        """The server's clock (the one that stamps queries), for ``after=``."""
        return float(self.api.get("/now").json()["time"])

    def queries(self, name: Optional[str] = None, *, after: float = 0.0, type: Optional[str] = None
                ) -> list[DnsQuery]:
        """Queries the server answered (all names, or ``name``), oldest first; ``after``: only those
        stamped later (server clock, epoch s); ``type``: "A", "AAAA", ..."""
        params = {"after": repr(after), **({"name": name} if name else {})}
        found = [DnsQuery(**q) for q in self.api.get("/queries", params=params).json()]
        return [q for q in found if type is None or q.type == type]

    def wait_for_query(self, name: str, *, after: float, timeout: float = 10.0, type: Optional[str] = "A",
                       poke: Optional[Callable[[], object]] = None) -> DnsQuery:
        """Wait until the server answers a query for ``name`` stamped after ``after``; return it.

        nginx's resolver asks only when a request needs the name and its cache has expired (it counts
        whole seconds: ``valid=1s`` may serve a cached answer for up to 2 s), so something must send
        requests meanwhile: ``poke`` is called before each look (send one request, drop a pool).
        """
        def probe() -> Optional[DnsQuery]:
            if poke is not None:
                poke()
            found = self.queries(name, after=after, type=type)
            return found[0] if found else None
        return wait_for(probe, timeout=timeout, interval=0.05, max_interval=0.2,
                        what=f"a new DNS query for {name} (nginx asks only when its cache expired and a "
                             "request needs the name; pooled connections never ask)")

    @contextlib.contextmanager
    def answering(self, name: str, *, wait_for_query: bool = False, wait_timeout: float = 10.0,
                  poke: Optional[Callable[[], object]] = None, **answer: Any) -> Iterator[AnswerChange]:
        """Answer ``name`` differently inside the block; the previous answer comes back after it.

        ``wait_for_query=True``: the block begins only once the server answered a query with the new
        answer (``poke`` sends the traffic that makes nginx ask; see :meth:`wait_for_query`; up to
        ``wait_timeout`` s), so the client has really seen the change, not a cached answer. Yields an
        :class:`AnswerChange`.
        """
        previous = self.records().get(canonical(name))
        change = AnswerChange(self, name, self.answer(name, **answer))
        try:
            if wait_for_query:
                change.wait_for_query(wait_timeout, poke)
            yield change
        finally:
            if previous is None:
                change.restored = self.forget(name)
            else:
                change.restored = self._put(name, previous)

