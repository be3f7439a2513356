"""Polling with a deadline: how the harness waits for a container, a process or a file to be
ready. Loops with deadlines of their own, each for a reason: ``ErrorLog.assert_logged`` (its
timeout is part of the assertion), a scenario step's ``within`` retries, the offline build lock
(``images/offline.py``), the engine start (``engine.py``), and the sidecars and locustfiles, which
run in other processes."""
from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

from harness.errors import HarnessError, ReadinessTimeout

T = TypeVar("T")


def wait_for(
    probe: Callable[[], Optional[T]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    max_interval: float = 0.5,
    on_timeout: Optional[Callable[[], str]] = None,
) -> T:
    """Call ``probe`` until it returns something truthy (not None, False, 0 or empty); return that.

    ``probe`` may raise :class:`harness.errors.HarnessError` to stop early (for example when a
    container has exited). Other exceptions count as "not yet" and the last one is reported.
    The interval grows from ``interval`` to ``max_interval``. On timeout a
    :class:`ReadinessTimeout` names ``what`` was awaited and the last observation.
    """
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    delay = interval
    while True:
        try:
            result = probe()
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - "not ready yet" is any failure of the probe
            last_error = exc
            result = None
        if result:
            return result
        now = time.monotonic()
        if now >= deadline:
            last = f"; last error: {type(last_error).__name__}: {last_error}" if last_error else ""
            extra = on_timeout() if on_timeout else ""
            raise ReadinessTimeout(f"timed out after {timeout:.1f}s waiting for {what}{last}", extra)
        time.sleep(min(delay, max(0.0, deadline - now)))
        delay = min(delay * 1.5, max_interval)
