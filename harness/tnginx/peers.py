"""A block's mock peers (``tcp_listen`` / ``udp_listen`` and their sections): what the companion of
its container is asked to run for each repetition (:meth:`Peers.wire`), and the checks on what they
received (:meth:`Peers.check`), with Test::Nginx's meanings: ``tcp_query`` / ``udp_query`` compare the
bytes the peer read (or match a ``qr//``), ``tcp_query_len`` counts them."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Optional, Union

from harness.tnginx.load import Regex

Query = Union[bytes, Regex]


def _b64(pieces: Optional[tuple[bytes, ...]]) -> Optional[list[str]]:
    return None if pieces is None else [base64.b64encode(p).decode() for p in pieces]


def _show(data: bytes, limit: int = 300) -> str:
    text = data.decode("latin-1")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _query_failure(section: str, got: bytes, want: Query, where: str) -> Optional[str]:
    if isinstance(want, Regex):
        if want.compiled().search(got.decode("latin-1")) is None:
            return f"{section}{where}: got {_show(got)}, expected to match /{want.pattern}/"
        return None
    if got != want:
        return f"{section}{where}: got {_show(got)}, expected {_show(want)}"
    return None


@dataclass(frozen=True)
class TcpPeer:
    """``tcp_listen`` and its sections (see harness/sidecars/companion.py for how it behaves)."""

    port: int  # 0 with a path
    reply: Optional[tuple[bytes, ...]] = None  # pieces, each sent on its own; None: no tcp_reply
    query: Optional[Query] = None
    query_len: Optional[int] = None  # to check; also how much to read (default: the query's length)
    reply_delay: float = 0.0
    shutdown: Optional[int] = None  # 0 read side, 1 write side, 2 both
    shutdown_delay: float = 0.0
    no_close: bool = False
    auto_timeout: Optional[float] = None  # read until the client is quiet this long
    path: str = ""  # a unix socket (in the block's html directory) instead of a port
    ask: bool = False  # tcp_reply is a Perl sub: the harness calls it with the query (see BlockRunner)

    def wire(self) -> dict[str, Any]:
        read = self.query_len if self.query_len is not None else (
            len(self.query) if isinstance(self.query, bytes) else None)
        return {"port": self.port, "path": self.path, "reply": _b64(self.reply), "query_len": read, "ask": self.ask,
                "reply_delay": self.reply_delay,
                "shutdown": self.shutdown, "shutdown_delay": self.shutdown_delay, "no_close": self.no_close,
                "auto_timeout": self.auto_timeout}


@dataclass(frozen=True)
class UdpPeer:
    """``udp_listen`` and its sections."""

    port: int
    reply: tuple[bytes, ...] = ()  # datagrams, in order
    query: Optional[Query] = None
    reply_delay: float = 0.0
    ask: bool = False  # udp_reply is a Perl sub: the harness calls it with the query

    def wire(self) -> dict[str, Any]:
        return {"port": self.port, "reply": _b64(self.reply), "reply_delay": self.reply_delay, "ask": self.ask}


@dataclass(frozen=True)
class Peers:
    """A block's mock peers (at most one of each kind, as under Test::Nginx)."""

    tcp: Optional[TcpPeer] = None
    udp: Optional[UdpPeer] = None

    def __bool__(self) -> bool:
        return self.tcp is not None or self.udp is not None

    @property
    def asks(self) -> bool:
        """Whether a peer's reply is a Perl sub the harness calls at run time."""
        return any(p is not None and p.ask for p in (self.tcp, self.udp))

    def wire(self) -> dict[str, Any]:
        return {"tcp": self.tcp.wire() if self.tcp else None, "udp": self.udp.wire() if self.udp else None}

    def check(self, seen: dict[str, Any], repetition: int = 0) -> list[str]:
        """What differs between what the peers received (the companion's ``collect`` answer) and
        the block's ``tcp_query``, ``tcp_query_len`` and ``udp_query``."""
        where = f" (repetition {repetition + 1})" if repetition else ""
        out: list[str] = []
        tcp, udp = seen.get("tcp") or {}, seen.get("udp") or {}
        if self.tcp is not None:
            got = base64.b64decode(tcp.get("query") or "")
            if self.tcp.query is not None:
                failure = _query_failure("tcp_query", got, self.tcp.query, where)
                out += [failure] if failure else []
            if self.tcp.query_len is not None and len(got) != self.tcp.query_len:
                out.append(f"tcp_query_len{where}: got {len(got)} bytes, expected {self.tcp.query_len}")
        if self.udp is not None and self.udp.query is not None:
            failure = _query_failure("udp_query", base64.b64decode(udp.get("query") or ""), self.udp.query, where)
            out += [failure] if failure else []
        return out
