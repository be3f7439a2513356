"""Host files a suite's configs name by absolute path: under prove nginx runs on the host and opens
them where they are (a certificate in the checkout's CI mount point, ``/lua-resty-jwt/testcerts``, say);
the harness's nginx runs in a container, so the directory holding each such file is mounted there,
read-only, at the path the config names.

Only what exists on the host now is mounted, never a top-level directory (``/tmp``, ``/work``: its
parent must be at least two levels deep), nothing of the image's own places, nothing already
mounted with the suite, and no directory nginx itself creates and writes (``proxy_cache_path
/tmp/cache``: a prove run leaves it on the host, but the block's nginx makes its own)."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from harness.tnginx.luadeps import IMAGE_DIRS

ABSOLUTE = re.compile(r"(?<![\w.$/~-])(/[A-Za-z0-9_.+@-]+(?:/[A-Za-z0-9_.+@-]+)+)")
NEVER = IMAGE_DIRS | {"proc", "sys", "dev", "harness", "servroot"}
WRITTEN = re.compile(r"\b\w+_(?:cache|temp)_path\s+(/[^\s;]+)")  # directories nginx creates and writes


def _within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or lies under it (both normalised absolute paths)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def named_host_dirs(texts: Iterable[str], mounted: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    """(host directory, container path) for each host directory holding a file (or being a directory)
    that ``texts`` name by absolute path; ``mounted``: container paths mounted already (their
    children are not mounted again)."""
    wanted: set[str] = set()
    texts = list(texts)
    written = [str(PurePosixPath(p.rstrip("/"))) for text in texts for p in WRITTEN.findall(text)]
    for found in {found for text in texts for found in ABSOLUTE.findall(text)}:
        path = PurePosixPath(found)
        if path.parts[1] in NEVER or any(_within(str(path), w) for w in written):
            continue
        host = Path(found)
        try:
            holder = path if host.is_dir() else path.parent if host.is_file() else None
        except OSError:
            continue
        if holder is not None and len(holder.parts) >= 3:  # "/", "a", "b": never a top-level dir
            wanted.add(str(holder))
    out: list[tuple[str, str]] = []
    taken = [str(PurePosixPath(m)) for m in mounted]
    for directory in sorted(wanted, key=len):  # a parent first: its children come with it
        if any(_within(directory, t) for t in taken):
            continue
        out.append((str(Path(directory).resolve()), directory))
        taken.append(directory)
    return tuple(out)
