"""The ``nginx`` a ``.t`` file's Perl sees: a stand-in script that answers ``-V`` and ``-v`` as the
image that runs the blocks does (its output recorded once per image by the image probe,
:mod:`harness.images.facts`). It is first on the ``PATH`` perl runs with, and ``TEST_NGINX_BINARY``
(so ``$Test::Nginx::Util::NginxBinary``) names it: a preamble's `` `nginx -V` ``, a ``skip_eval``
looking for ``--with-debug``, ``$NginxVersion`` all see the container's nginx, not the host's."""
from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

SCRIPT = """#!/bin/sh
# openresty-harness: the nginx of image {image} as a .t file's Perl sees it. The blocks run in that
# image's containers; this script only answers -V and -v as its nginx does.
case "$1" in
  -V) cat "$(dirname "$0")/nginx-V.txt" >&2 ;;
  -v) head -n 1 "$(dirname "$0")/nginx-V.txt" >&2 ;;
  *) echo "harness: this nginx only answers -V and -v (the blocks run in image {image})" >&2; exit 1 ;;
esac
"""


def standin_dir(image_id: str, version_output: str, base: Path | None = None) -> Path:
    """The directory holding the stand-in ``nginx`` of this image (written once, kept by image id)."""
    name = re.sub(r"[^\w]", "", image_id.split(":")[-1])[:16] or "unknown"
    where = (base or Path(tempfile.gettempdir()) / "harness-tnginx-nginx") / name
    script = where / "nginx"
    text = version_output.rstrip("\n") + "\n"
    if script.exists() and (where / "nginx-V.txt").read_text() == text:
        return where
    where.mkdir(parents=True, exist_ok=True)
    for file, content, mode in (("nginx-V.txt", text, 0o644), ("nginx", SCRIPT.format(image=shlex.quote(image_id)), 0o755)):
        partial = where / f".{file}.{os.getpid()}"
        partial.write_text(content)
        partial.chmod(mode)
        os.replace(partial, where / file)  # other processes collecting at once see a whole file
    return where


def perl_env(image_id: str, version_output: str, path: str = "") -> dict[str, str]:
    """What perl runs with so the file's Perl asks the image's nginx: ``PATH`` (the stand-in first)
    and ``TEST_NGINX_BINARY``."""
    where = standin_dir(image_id, version_output)
    return {"PATH": os.pathsep.join(p for p in (str(where), path or os.environ.get("PATH", "")) if p),
            "TEST_NGINX_BINARY": str(where / "nginx")}
