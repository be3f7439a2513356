"""A fault held for a whole run of ``.t`` blocks (``--harness-fault``): which blocks of an existing
suite still pass with a slow or refusing Redis, or a DNS server that answers SERVFAIL."""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.stage import Stage

Kind = Literal["redis.latency", "redis.refusing", "dns.servfail"]
SPELLING = "redis.latency=MS, redis.refusing or dns.servfail"


@dataclass(frozen=True)
class RunFault:
    kind: Kind
    ms: int = 0

    @classmethod
    def parse(cls, text: str) -> Optional["RunFault"]:
        text = text.strip()
        if not text:
            return None
        m = re.fullmatch(r"redis\.latency=(\d+)", text)
        if m:
            return cls("redis.latency", int(m.group(1)))
        if text in ("redis.refusing", "dns.servfail"):
            return cls(text)  # type: ignore[arg-type]
        raise HarnessError(f"--harness-fault={text!r}: give {SPELLING}")

    def hold(self, stage: "Stage", stack: contextlib.ExitStack) -> dict[str, str]:
        """Start the fault (undone when ``stack`` closes); returns the container env it needs."""
        if self.kind == "redis.refusing":
            from harness.faults import RedisFault

            stack.enter_context(RedisFault(stage.redis()).refusing())
            return {}
        if self.kind == "dns.servfail":
            dns = stage.dns()
            stack.enter_context(dns.answering("*", rcode="SERVFAIL"))
            return {}
        redis = stage.redis()
        proxy = stage.fault_proxy({"redis": (6379, redis.ip, 6379)})
        stack.callback(proxy.stop)
        stack.enter_context(proxy.route("redis").latency(self.ms))
        return {"REDIS_HOST": proxy.ip}
