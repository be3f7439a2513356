"""The workers' hits files (``/harness/coverage/<pid>-<ms>.hits``, written by lualib/coverage.lua):
a chunk name ("@/path/x.lua") on a line of its own, then "LINE COUNT" lines for it."""
from __future__ import annotations

import io
import tarfile
from typing import Iterable

Hits = dict[str, dict[int, int]]  # chunk name (or file key) -> line -> times it ran


def parse_hits(text: str) -> Hits:
    """One hits file; a line that is neither a chunk name nor "LINE COUNT" (a write cut short by a
    crash cannot make one: files are renamed into place) is skipped."""
    out: Hits = {}
    current: dict[int, int] | None = None
    for raw in text.splitlines():
        if raw.startswith(("@", "=")):
            current = out.setdefault(raw, {})
            continue
        parts = raw.split()
        if current is not None and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            line, count = int(parts[0]), int(parts[1])
            current[line] = current.get(line, 0) + count
    return out


def merge(into: Hits, more: Hits) -> Hits:
    """Add ``more``'s counts to ``into`` (returned)."""
    for key, lines in more.items():
        target = into.setdefault(key, {})
        for line, count in lines.items():
            target[line] = target.get(line, 0) + count
    return into


def hits_in_archive(archive: bytes) -> Iterable[str]:
    """The texts of the ``*.hits`` files in a tar archive (the engine's copy of the directory)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".hits"):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    yield extracted.read().decode(errors="replace")
