"""A short-lived container of an image in which the preflight runs its scripts (``nginx -t``,
module resolution, ``ldd``, luacheck): labelled, on the session network, least privilege, removed
after use."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from harness.containers.base import HarnessContainer, Reach
from harness.images.resolver import ResolvedImage
from harness.session import HarnessSession

PROBE_LIFETIME_S = 300  # the probe's own command: it exits by itself even if nobody stops it (the sweep removes it)


class ProbeContainer(HarnessContainer):
    """``sleep`` in ``image`` with ``files`` (host directory, directory in the container it goes
    into) copied in; scripts run by exec.

    >>> with ProbeContainer(image, session, reach, [(bundle_dir, "/")]) as probe:
    ...     code, out = probe.sh("nginx -t ...")
    """

    kind = "preflight"

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach,
                 files: Sequence[tuple[Path, str]] = (), capabilities: tuple[str, ...] = (), user: str = "") -> None:
        self.capabilities = capabilities
        self.user = user
        super().__init__(image, session, reach, ())
        for path, into in files:
            self.with_copy_into_container(path, into)
        self.with_command(["sleep", str(PROBE_LIFETIME_S)])

    def __enter__(self) -> "ProbeContainer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
