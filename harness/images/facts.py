"""What an image really contains: ``nginx -V`` and the LuaJIT version, or ``redis-server --version``.

Probed once per image id with a short-lived, network-less container and cached on disk.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Optional

from harness.engine import Engine
from harness.images.profiles import openresty_profile, redis_profile
from harness.images.resolver import ResolvedImage

PROBE_TIMEOUT = 30


@dataclass
class ImageFacts:
    kind: str
    ref: str
    id: str
    source: str
    profile: str
    note: str
    version: str  # full `nginx -V` or `redis-server --version` output
    luajit: str = ""

    def summary(self) -> str:
        """One line: the server version, the LuaJIT version, where the image came from."""
        lines = self.version.splitlines()
        head = lines[0].replace("nginx version: ", "") if lines else "?"
        jit = f", {self.luajit.split(' -- ')[0]}" if self.luajit else ""
        note = f"; {self.note}" if self.note else ""
        return f"{head}{jit} -- {self.ref} ({self.source}, profile {self.profile}, {self.id[7:19]}{note})"


def _command(image: ResolvedImage) -> str:
    if image.kind == "openresty":
        return openresty_profile(image.labels).version_command()
    if image.kind == "tools":
        return "python3 --version 2>&1"
    return f"{redis_profile(image.labels).server_bin} --version"


def probe(engine: Engine, image: ResolvedImage, labels: Mapping[str, str],
          cache_file: Optional[Path] = None) -> ImageFacts:
    """Run the image's version command (or take it from ``cache_file``) and return the facts."""
    cache: dict[str, dict] = {}
    if cache_file and cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except ValueError:
            cache = {}
    if image.id in cache:
        raw = cache[image.id]
    else:
        container = engine.client.containers.run(
            image.id, ["sh", "-c", _command(image)], detach=True, network_mode="none",
            labels={**labels, "harness.kind": "probe"})
        try:
            container.wait(timeout=PROBE_TIMEOUT)
            output = container.logs().decode(errors="replace").strip()
        finally:
            container.remove(force=True)
        version, _, luajit = output.partition("\n---\n")
        raw = {"version": version.strip(), "luajit": luajit.strip()}
        if cache_file:
            cache[image.id] = raw
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            # Several runs (xdist workers) may write at once: each writes its own file, then renames it.
            partial = cache_file.with_name(f"{cache_file.name}.{os.getpid()}")
            partial.write_text(json.dumps(cache, indent=1))
            os.replace(partial, cache_file)
    return ImageFacts(kind=image.kind, ref=image.ref, id=image.id, source=image.source, profile=image.profile,
                      note=image.note, version=raw["version"], luajit=raw.get("luajit", ""))


def as_record(facts: ImageFacts) -> dict:
    return asdict(facts)
