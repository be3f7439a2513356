"""A fault held for a whole run of ``.t`` blocks (``--harness-fault``): which blocks of an existing
suite still pass with a slow or refusing Redis, or a DNS server that answers SERVFAIL. The faults
and their spelling are :mod:`harness.faults.registry`'s (``proxy.latency:ms=50``, ``redis.refusing``,
``dns.servfail``); a run holds the lasting ones of Redis, the DNS server and the proxy in front of Redis."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Optional

from harness.errors import HarnessError
from harness.faults.registry import FAULTS, FaultSpec, hold
from harness.services import env_through, route_to

if TYPE_CHECKING:
    from harness.stage import Stage

RUN_FAULTS = tuple(f.name for f in FAULTS.values() if f.for_a_run)


def parse(text: str) -> Optional[FaultSpec]:
    """The run's fault, or None; one a run cannot hold is a one-line error."""
    spec = FaultSpec.parse(text)
    if spec is not None and (spec.kind not in RUN_FAULTS or spec.fault.needs == "proxy" and spec.route != "redis"):
        raise HarnessError(f"--harness-fault={text!r}: a run holds one of {', '.join(RUN_FAULTS)} "
                           "(proxy.*: on the redis route)")
    return spec


def hold_for_run(spec: FaultSpec, stage: "Stage", stack: contextlib.ExitStack) -> dict[str, str]:
    """Start the fault (undone when ``stack`` closes); returns the container env it needs (a proxy's
    address in place of the service's)."""
    proxy, env = None, {}
    if spec.fault.needs == "proxy":
        proxy = stage.fault_proxy(route_to("redis", stage.services.use("redis")))
        stack.callback(proxy.stop)
        env = env_through("redis", proxy.ip)
    stack.enter_context(hold(spec, stage.services.use, proxy=proxy))
    return env
