"""CompanionContainer: a small sidecar joined to an OpenResty container's network namespace (its
program: ``harness/sidecars/companion.py``), so that the container's own 127.0.0.1 serves what a
Test::Nginx block expects there: forwards to the session's services, and the block's mock peers.

Least privilege: every capability dropped but NET_BIND_SERVICE (a mock peer may listen below 1024;
a namespace's sysctls are its owner's, so the sidecars' sysctl cannot be used), no-new-privileges,
labelled with the session; :meth:`Stage.companion` stops it with its OpenResty container."""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Optional, Sequence

from harness.containers.sidecar import SidecarContainer
from harness.errors import HarnessError
from harness.images.resolver import ResolvedImage
from harness.nginx_conf import COMPANION_PORT, ROOT, WWW
from harness.session import HarnessSession
from harness.wire import Packet, Received

if TYPE_CHECKING:
    from harness.containers.openresty import OpenRestyContainer

Forward = tuple[int, str, int]  # (port on the container's 127.0.0.1, upstream host, upstream port)


class PeerError(HarnessError):
    """A mock peer could not be set up (its port is taken, say)."""


class CompanionContainer(SidecarContainer):
    """``CompanionContainer(tools_image, session, nginx).start()``; then :meth:`set_forwards`,
    and per repetition of a block :meth:`arm` before its requests and :meth:`collect` after them."""

    kind = "companion"
    script = "companion.py"
    modules = ("fault_proxy.py",)
    harness_modules = ("wire.py",)  # the raw client, for requests sent from the container's 127.0.0.1
    api_port = COMPANION_PORT
    ready_path = "/ready"
    user = ""  # the image's root, with NET_BIND_SERVICE alone
    capabilities = ("NET_BIND_SERVICE",)

    def __init__(self, image: ResolvedImage, session: HarnessSession, owner: "OpenRestyContainer") -> None:
        self.netns_owner = owner
        www = owner.config_dir / WWW if owner.config_dir is not None else None
        # the server's html directory at nginx's own path, where the engine shares this host's files:
        # a mock peer's unix socket there is the one nginx connects to
        links = ["--link", f"{ROOT}/html={ROOT}/{WWW}"] if www is not None else []
        super().__init__(image, session, owner.reach, ["--api", str(COMPANION_PORT), *links])
        if www is not None:
            self.with_volume_mapping(str(www), f"{ROOT}/{WWW}", "rw")
        self.shares_html = www is not None
        self.forwards: dict[str, Forward] = {}

    def _call(self, method: str, path: str, body: Optional[dict[str, object]] = None) -> Any:
        r = self.api.request(method, path, json=body)
        if r.status_code == 409:
            raise PeerError(r.json().get("error", r.text))
        if r.status_code != 200:
            raise HarnessError(f"companion {self.name}: {method} {path} -> {r.status_code} {r.text}")
        return r.json()

    def set_forwards(self, table: dict[str, Forward]) -> bool:
        """Make ``127.0.0.1:port`` forward to each upstream (the whole table; unchanged: no call).
        Whether the table changed."""
        if table == self.forwards:
            return False
        self._call("PUT", "/forwards", {name: list(f) for name, f in table.items()})
        self.forwards = dict(table)
        return True

    def arm(self, peers: dict[str, Any]) -> None:
        """Start a repetition's mock peers (``{"tcp": spec|None, "udp": spec|None}``); they listen
        when this returns. :class:`PeerError` when a port cannot be had."""
        if not self.shares_html and any((spec or {}).get("path") for spec in peers.values()):
            raise PeerError("a mock peer on a unix socket needs an engine that shares this host's files "
                            "(the html directory is mounted into both containers)")
        self._call("POST", "/peers", peers)

    def question(self, wait: float) -> Optional[tuple[str, bytes]]:
        """The next query a peer that asks for its reply received (``(kind, query)``), waiting up to
        ``wait`` s; None: none came."""
        asked = self._call("POST", "/peers/question", {"wait": wait})
        return (str(asked["kind"]), base64.b64decode(asked["query"])) if asked else None

    def answer(self, kind: str, reply: Optional[tuple[bytes, ...]]) -> None:
        """The reply to the ``kind`` peer's query (None: it sends nothing)."""
        self._call("POST", "/peers/answer", {"kind": kind, "reply": None if reply is None else
                                             [base64.b64encode(p).decode() for p in reply]})

    def talk(self, host: str, port: int, packets: Sequence[Packet], timeout: float, *, until_close: bool = True,
             answers: int = 1, shutdown: Optional[int] = None) -> Received:
        """:func:`harness.wire.talk` run by the companion, inside the container's network namespace:
        nginx sees the client at 127.0.0.1 (``host`` names an address there), as under Test::Nginx."""
        body = {"host": host, "port": port, "timeout": timeout, "until_close": until_close, "answers": answers,
                "shutdown": shutdown, "packets": [[base64.b64encode(p.data).decode(), p.delay_before] for p in packets]}
        # the exchange's own deadlines are per I/O event: give the call room for the delays and several of them
        limit = sum(p.delay_before for p in packets) + 10 * timeout + 30
        r = self.api.request("POST", "/talk", json=body, timeout=limit)
        if r.status_code != 200:
            raise HarnessError(f"companion {self.name}: POST /talk -> {r.status_code} {r.text}")
        got = r.json()
        return Received(base64.b64decode(got["data"]), bool(got["closed"]), bool(got["timed_out"]),
                        str(got.get("error") or ""), float(got.get("elapsed_ms") or 0.0))

    def collect(self) -> dict[str, Any]:
        """Stop the peers; what each received (``{"tcp": {"query": base64, ...}, "udp": ...}``)."""
        collected: dict[str, Any] = self._call("POST", "/peers/collect")
        return collected
