"""MemcachedContainer: a throwaway memcached on the session network, ready when it answers ``version``."""
from __future__ import annotations

from typing import Optional

from pymemcache.client.base import Client

from harness.containers.base import HarnessContainer, Reach
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession
from harness.waiting import wait_for

MEMCACHED_PORT = 11211
COMMAND = ["memcached", f"--port={MEMCACHED_PORT}", "--memory-limit=64"]  # the official image and the twin alike


class MemcachedContainer(HarnessContainer):
    kind = "memcached"
    alias = "memcached"
    user = "memcache"  # both the official image and the offline twin have it: no capability needed

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach) -> None:
        super().__init__(image, session, reach, (MEMCACHED_PORT,))
        self.with_command(COMMAND)
        self._client: Optional[Client] = None

    def start(self) -> "MemcachedContainer":
        super().start()
        wait_for(lambda: self.client().version(), timeout=self.start_timeout,
                 what=f"{self.name} to answer version", on_timeout=self.logs_text)
        return self

    def client(self) -> Client:
        """A pymemcache client from the host (short timeouts)."""
        if self._client is None:
            self._client = Client(self.endpoint(MEMCACHED_PORT), connect_timeout=2, timeout=2)
        return self._client

    def service_env(self) -> dict[str, str]:
        """What an OpenResty container needs to find this memcached (``os.getenv``, ``${...}``)."""
        return {"MEMCACHED_HOST": self.ip, "MEMCACHED_PORT": str(MEMCACHED_PORT)}

    def reset(self) -> None:
        """Forget every item (between tests)."""
        self.client().flush_all(noreply=False)

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._client is not None:
            self._client.close()
        super().stop(force, delete_volume)
