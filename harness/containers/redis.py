"""RedisContainer: a throwaway Redis on the session network, ready when it answers PING."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, TypeVar

import redis as redis_py

from harness.containers.base import HarnessContainer, Reach
from harness.images.profiles import redis_profile
from harness.images.resolver import ResolvedImage
from harness.redis_observer import RedisObserver
from harness.service_options import RedisOptions, Users
from harness.session import HarnessSession
from harness.waiting import wait_for

REDIS_PORT = 6379
R = TypeVar("R", bound="RedisContainer")
SOCKET_DIR = "/harness-socket"  # in the Redis container: a host directory that OpenResty mounts too


def acl_args(users: Users) -> list[str]:
    """``redis-server`` options that add ACL users with every right (the default user stays open)."""
    return [arg for name, password in users for arg in ("--user", name, "on", f">{password}", "~*", "&*", "+@all")]


def host_client(container: HarnessContainer, port: int) -> redis_py.Redis:
    """A redis-py client from the host to ``port`` of ``container`` (decoded strings, short timeouts)."""
    host, host_port = container.endpoint(port)
    return redis_py.Redis(host=host, port=host_port, socket_timeout=2, socket_connect_timeout=2,
                          decode_responses=True)


class RedisContainer(HarnessContainer):
    kind = "redis"
    alias = "redis"
    user = "redis"  # both the official image and the offline twin have it: no capability needed

    port = REDIS_PORT

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 options: RedisOptions = RedisOptions()) -> None:
        super().__init__(image, session, reach, (REDIS_PORT,))
        self.profile = redis_profile(image.labels)
        self.options = options
        self.extra_args: list[str] = acl_args(options.users)
        self.socket_dir: Optional[Path] = None  # the host directory of the unix socket (options.socket)
        self.with_command([*self.profile.server_command(), *self.extra_args])
        self._client: redis_py.Redis | None = None
        self.cli_connections = 0  # redis-cli runs in the container (each one a connection; see RedisFault.cli)
        self._own_id: int | None = None
        self._own_connects = 0

    def with_args(self: R, *args: str) -> R:
        """More ``redis-server`` options (``"--cluster-enabled", "yes"``)."""
        self.extra_args = [*self.extra_args, *args]
        self.with_command([*self.profile.server_command(), *self.extra_args])
        return self

    def socket_mount(self) -> Optional[tuple[str, str]]:
        """``(host directory, directory in OpenResty)`` that gives OpenResty the unix socket at
        ``options.socket`` (a read-only mount will do: connecting writes nothing there); None: no socket."""
        if self.socket_dir is None:
            return None
        return str(self.socket_dir), os.path.dirname(self.options.socket)

    def start(self) -> "RedisContainer":
        if self.options.socket and self.socket_dir is None:
            # a host directory, as the suite's own files: the engine shares this host's files with containers
            self.socket_dir = Path(tempfile.mkdtemp(prefix=f"harness-redis-socket-{self.session.id}-"))
            self.socket_dir.chmod(0o777)
            self.with_volume_mapping(str(self.socket_dir), SOCKET_DIR, "rw")
            self.with_args("--unixsocket", f"{SOCKET_DIR}/{os.path.basename(self.options.socket)}",
                           "--unixsocketperm", "777")
        super().start()
        wait_for(lambda: self.client().ping(), timeout=self.start_timeout, what=f"{self.name} to answer PING",
                 on_timeout=self.logs_text)
        return self

    def client(self) -> redis_py.Redis:
        """A redis-py client from the host (decoded strings, short timeouts)."""
        if self._client is None:
            self._client = host_client(self, self.port)
        return self._client

    def service_env(self) -> dict[str, str]:
        """What an OpenResty container needs to find this Redis (``os.getenv`` in Lua, ``${...}`` in config)."""
        return {"REDIS_HOST": self.ip, "REDIS_PORT": str(self.port)}

    def follow_address(self) -> None:
        """After a restart the engine may hand out another address: read it again, reconnect."""
        self.get_wrapped_container().reload()
        self.cut_route_out()  # a restarted container has a new network namespace
        if self._client is not None:
            self._client.close()
            self._client = None

    def harness_connections(self) -> int:
        """Connections the harness opened itself so far (redis-cli runs, its own client's
        reconnects): what a count of connections received leaves out to see only the app's."""
        own = int(self.client().client_id())
        if own != self._own_id:
            self._own_id = own
            self._own_connects += 1
        return self.cli_connections + self._own_connects

    @property
    def observe(self) -> RedisObserver:
        """Clients, clients by address, INFO fields (see :class:`harness.redis_observer.RedisObserver`)."""
        return RedisObserver(self.client())

    def reset(self) -> None:
        """Empty the data and the statistics, and close every other client's connection (between
        tests: pooled connections of idle OpenResty containers must not show up in the next test)."""
        c = self.client()
        c.flushall()
        c.config_resetstat()
        c.client_kill_filter(_type="normal", skipme=True)  # CLIENT KILL TYPE normal SKIPME yes

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._client is not None:
            self._client.close()
        try:
            super().stop(force, delete_volume)
        finally:
            if self.socket_dir is not None:
                shutil.rmtree(self.socket_dir, ignore_errors=True)
                self.socket_dir = None
