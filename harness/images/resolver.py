"""Decide which image runs: an override, the official image (local or pulled), or the offline twin."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional

from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.images import Image

from harness.engine import Engine
from harness.errors import ImageUnavailable
from harness.images import offline
from harness.images.components import OFFICIAL_TAG
from harness.images.profiles import profile_name
from harness.settings import Settings

log = logging.getLogger(__name__)
TWIN_PREFIX = "twin:"  # an image reference naming an offline twin by its Debian release: twin:bookworm

# The newest official tags established from public sources: OpenResty in harness/images/components.py
# (docker-openresty has no trixie flavor), docker-library/official-images library/redis (8.10.2 on
# Debian trixie), library/python (3.13-slim-trixie: the same Python as Debian 13's python3) and
# library/memcached (1.6.45 on Debian trixie).
OFFICIAL = {
    "openresty": OFFICIAL_TAG,
    "redis": "redis:8.10.2-trixie",
    "tools": "python:3.13-slim-trixie",  # the harness's sidecars: DNS server, fault proxy
    "memcached": "memcached:1.6.45-trixie",  # docker-library/memcached versions.json (1.6.45, Debian trixie)
}
OVERRIDE = {"openresty": ("openresty_image", "HARNESS_OPENRESTY_IMAGE", "--openresty-image"),
            "redis": ("redis_image", "HARNESS_REDIS_IMAGE", "--redis-image"),
            "tools": ("tools_image", "HARNESS_TOOLS_IMAGE", "--tools-image")}


@dataclass
class ResolvedImage:
    """An image that exists on the engine, and why it was chosen."""

    kind: str
    ref: str
    id: str
    source: str  # "override", "official (local)", "official (pulled)", "offline build"
    profile: str  # "official", "trixie" or "bookworm": see harness.images.profiles
    labels: dict[str, str] = field(default_factory=dict)
    note: str = ""  # why the first choice was not taken

    def describe(self) -> str:
        note = f" [{self.note}]" if self.note else ""
        return f"{self.ref} ({self.source}, profile {self.profile}, {self.id[7:19]}){note}"


class ImageResolver:
    """Resolves each image kind once and remembers the answer."""

    def __init__(self, engine: Engine, overrides: Optional[dict[str, str]] = None, pull: bool = True,
                 twin: str = offline.DEFAULT_RELEASE) -> None:
        self.engine = engine
        self.overrides = {k: v for k, v in (overrides or {}).items() if v}
        self.pull = pull
        self.twin = twin
        self._cache: dict[str, ResolvedImage] = {}

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings, pull: Optional[bool] = None) -> "ImageResolver":
        """The resolver a run with ``settings`` uses (image overrides, pull policy, twin release)."""
        return cls(engine, {"openresty": settings.openresty_image, "redis": settings.redis_image,
                            "tools": settings.tools_image},
                   pull=settings.may_pull if pull is None else pull, twin=settings.twin)

    def resolve(self, kind: str) -> ResolvedImage:
        if kind not in self._cache:
            self._cache[kind] = self._resolve(kind)
        return self._cache[kind]

    def official(self, kind: str) -> tuple[object, str]:
        """The official image of ``kind``, here or pulled: (image, '') or (None, why not)."""
        image = self._local(OFFICIAL[kind])
        return (image, "") if image is not None else self._pull(OFFICIAL[kind])

    def _local(self, ref: str) -> Optional[Image]:
        try:
            return self.engine.client.images.get(ref)
        except ImageNotFound:
            return None

    def _pull(self, ref: str) -> tuple[Optional[Image], str]:
        """Try to pull; return (image, '') or (None, reason)."""
        if not self.pull:
            return None, "pulling disabled (HARNESS_PULL=never)"
        started = time.monotonic()
        try:
            return self.engine.client.images.pull(ref), ""
        except (APIError, DockerException) as exc:
            reason = getattr(exc, "explanation", None) or str(exc)
            return None, f"pull failed in {time.monotonic() - started:.1f}s: {str(reason).splitlines()[0][:120]}"

    def _found(self, kind: str, image: Image, ref: str, source: str, note: str = "") -> ResolvedImage:
        labels = image.labels or {}
        return ResolvedImage(kind=kind, ref=ref, id=str(image.id), source=source,
                             profile=profile_name(labels), labels=labels, note=note)

    def offline_twin(self, kind: str, ref: str) -> ResolvedImage:
        """``twin:<release>`` (``twin:bookworm``): the offline twin of that Debian release, built on
        first use (a few minutes, once per recipe)."""
        release = ref.split(":", 1)[1]
        if release not in offline.RELEASES:
            raise ImageUnavailable(f"unknown twin {ref!r}: give one of "
                                   f"{', '.join('twin:' + r for r in offline.RELEASES)} or an image reference")
        tag = offline.OfflineBuilder(self.engine, log=log.info, twin=release).build(kind)
        image = self._local(tag)
        if image is None:
            raise ImageUnavailable(f"the offline twin {tag} ({ref}) vanished after its build: run `harness images build`")
        return self._found(kind, image, tag, "offline build", note=ref)

    def _resolve(self, kind: str) -> ResolvedImage:
        if kind in self.overrides:
            ref = self.overrides[kind]
            if ref.startswith(TWIN_PREFIX):
                return self.offline_twin(kind, ref)
            image = self._local(ref)
            if image is None:
                image, reason = self._pull(ref)
                if image is None:
                    _, env, flag = OVERRIDE[kind]
                    raise ImageUnavailable(
                        f"{kind} image {ref} (from {env}/{flag}) is not on the engine and cannot be pulled "
                        f"({reason}): build or load it, or unset {env}")
            return self._found(kind, image, ref, "override")
        official = OFFICIAL[kind]
        image = self._local(official)
        if image is not None:
            return self._found(kind, image, official, "official (local)")
        image, reason = self._pull(official)
        if image is not None:
            return self._found(kind, image, official, "official (pulled)")
        twin = offline.twin_tag(kind, self.twin)
        image = self._local(twin)
        if image is not None:
            return self._found(kind, image, twin, "offline build", note=f"{official}: {reason}")
        raise ImageUnavailable(
            f"no {kind} image: {official} cannot be pulled ({reason}) and the offline build {twin} "
            f"is missing: run `make images`{'' if self.twin == offline.DEFAULT_RELEASE else f' with HARNESS_TWIN={self.twin}'}")
