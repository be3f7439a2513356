"""Redis faults, from outside (the container: stop, pause, kill, restart) and inside (the server:
refuse new connections, answer slowly, drop every client connection). Each ``with`` block undoes
its fault and waits until Redis answers again."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

from harness.containers.redis import REDIS_PORT
from harness.errors import HarnessError
from harness.waiting import wait_for

if TYPE_CHECKING:  # pragma: no cover
    from docker.models.containers import Container

    from harness.containers import RedisContainer

SPARE_PORT = 6390  # where the server listens while it refuses on 6379


class RedisFault:
    """Faults of one :class:`~harness.containers.RedisContainer`."""

    def __init__(self, redis: "RedisContainer", recover_timeout: float = 30.0) -> None:
        self.redis = redis
        self.recover_timeout = recover_timeout

    # ---- the container -----------------------------------------------------------------------
    def _container(self) -> "Container":
        return self.redis.get_wrapped_container()

    def _recovered(self) -> None:
        """Wait until Redis answers PING again."""
        wait_for(lambda: self._running() and self.redis.client().ping(), timeout=self.recover_timeout,
                 what=f"{self.redis.name} to answer PING again")

    def _running(self) -> bool:
        return bool(self.redis.state().get("Running")) and not self.redis.state().get("Paused")

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """``docker stop``: the address goes away (connects time out or find no route). Started
        again on exit, usually at a *new* address, as after a real restart: only clients that find
        Redis by name (the network alias ``redis``) recover; see :meth:`started_again`."""
        self._container().stop(timeout=5)
        try:
            yield
        finally:
            self.started_again()

    @contextlib.contextmanager
    def killed(self) -> Iterator[None]:
        """``docker kill`` (SIGKILL), started again on exit (see :meth:`stopped`)."""
        self._container().kill()
        try:
            yield
        finally:
            self.started_again()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """``docker pause``: connections are accepted by the kernel but never answered (timeouts)."""
        self._container().pause()
        try:
            yield
        finally:
            self._container().unpause()
            self._recovered()

    def restart(self) -> None:
        """``docker restart`` and wait for it (a one-shot, not a context)."""
        self._container().restart(timeout=5)
        self.started_again(start=False)

    def started_again(self, start: bool = True) -> str:
        """Start the container if asked, follow its (possibly new) address, wait for PING; return
        the address. OpenResty containers started later get the new one."""
        if start:
            self._container().start()
        self.redis.follow_address()
        self._recovered()
        return self.redis.ip

    # ---- the server ----------------------------------------------------------------------------
    def cli(self, *args: str, port: int = REDIS_PORT) -> str:
        """redis-cli inside the container (works whatever the reach mode and the current port)."""
        self.redis.cli_connections += 1
        code, out = self.redis.sh("redis-cli -p %d %s" % (port, " ".join(_quote(a) for a in args)))
        if code != 0 or out.startswith("ERR") or "Could not connect" in out:
            raise HarnessError(f"redis-cli {' '.join(args)} failed in {self.redis.name}: {out.strip()}")
        return out.strip()

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """Redis down, host up: the server moves to a spare port and drops its clients, so connects
        to 6379 are refused (``connection refused``) and pooled connections are closed."""
        self.cli("CONFIG", "SET", "port", str(SPARE_PORT))
        self.cli("CLIENT", "KILL", "TYPE", "normal", port=SPARE_PORT)
        try:
            yield
        finally:
            self.cli("CONFIG", "SET", "port", str(REDIS_PORT), port=SPARE_PORT)
            self._recovered()

    @contextlib.contextmanager
    def slow(self, ms: int) -> Iterator[None]:
        """Every command waits until ``ms`` after the start of the block (CLIENT PAUSE): latency
        just under or just over the client's timeout."""
        self.cli("CLIENT", "PAUSE", str(ms), "ALL")
        try:
            yield
        finally:
            self.cli("CLIENT", "UNPAUSE")

    def drop_connections(self) -> int:
        """Close every client connection now (pooled ones break on their next use); returns how many."""
        return int(self.cli("CLIENT", "KILL", "TYPE", "normal") or 0)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"
