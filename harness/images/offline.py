"""Build the offline twins from Debian packages: mmdebstrap, then ``docker import``, then a Dockerfile.

Tags carry a hash of the recipe, so a build is skipped while the recipe is unchanged and redone
when it changes.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from docker.errors import BuildError, ImageNotFound

from harness.engine import Engine, ensure_packages
from harness.errors import ImageUnavailable
from harness.images.profiles import PROFILE_LABEL

RECIPES = Path(__file__).resolve().parent / "recipes"
NAMESPACE = "openresty-harness"
SUITE = "bookworm"
KINDS = ("openresty", "redis", "tools")
MMDEBSTRAP_OPTIONS = (
    "--variant=apt",
    "--aptopt=Apt::Install-Recommends \"false\"",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
MMDEBSTRAP_TIMEOUT = 900
BUILD_LOCK_TIMEOUT = MMDEBSTRAP_TIMEOUT + 600  # a rootfs and an image build, at most


def packages() -> list[str]:
    lines = (RECIPES / "packages.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:12]


def rootfs_tag() -> str:
    recipe = "\n".join([SUITE, *MMDEBSTRAP_OPTIONS, *packages()]).encode()
    return f"{NAMESPACE}/rootfs:{SUITE}-{_digest(recipe)}"


def image_tag(kind: str) -> str:
    """The tag of the offline image of ``kind`` for the current recipe."""
    files = sorted(p for p in (RECIPES / kind).rglob("*") if p.is_file())
    parts = [rootfs_tag().encode()] + [p.relative_to(RECIPES).as_posix().encode() + p.read_bytes() for p in files]
    return f"{NAMESPACE}/{kind}:{SUITE}-{_digest(*parts)}"


def lock_path(tag: str) -> Path:
    """The lock file of one image build; one per tag, in the temp directory shared by this host's runs."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tag)
    return Path(tempfile.gettempdir()) / f"openresty-harness-build-{safe}.lock"


@contextlib.contextmanager
def build_lock(tag: str, log: Callable[[str], None] = print, timeout: float = BUILD_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the host-wide lock for building ``tag`` (``flock``: released by the kernel when the
    holder exits, even by SIGKILL). Waits with a deadline while another run builds."""
    with open(lock_path(tag), "a+") as handle:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log(f"waiting for another run that builds {tag}")
                    waited = True
                if time.monotonic() > deadline:
                    raise ImageUnavailable(f"another run has been building {tag} for {timeout:.0f}s: wait for it, "
                                           f"or end it and remove {lock_path(tag)}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class OfflineBuilder:
    """Builds (or finds cached) offline images on an engine."""

    def __init__(self, engine: Engine, log: Callable[[str], None] = print) -> None:
        self.engine = engine
        self.log = log

    def exists(self, tag: str) -> bool:
        try:
            self.engine.client.images.get(tag)
            return True
        except ImageNotFound:
            return False

    def build(self, kind: str) -> str:
        tag = image_tag(kind)
        if self.exists(tag):
            self.log(f"{kind}: {tag} is up to date")
            return tag
        with build_lock(tag, self.log):  # another run (an xdist worker, a second `make`) may build it
            if self.exists(tag):
                self.log(f"{kind}: {tag} was built meanwhile by another run")
                return tag
            return self._build(kind, tag)

    def _build(self, kind: str, tag: str) -> str:
        base = self.rootfs()
        self.log(f"{kind}: building {tag} FROM {base}")
        started = time.monotonic()
        try:
            self.engine.client.images.build(
                path=str(RECIPES / kind), tag=tag, buildargs={"ROOTFS": base}, rm=True, forcerm=True,
                pull=False, labels={"org.openresty-harness.recipe": tag.rsplit("-", 1)[1]})
        except BuildError as exc:
            lines = "\n".join(str(chunk.get("stream", chunk.get("error", ""))).rstrip() for chunk in exc.build_log)
            raise ImageUnavailable(f"building {tag} failed: {exc.msg}", lines[-3000:]) from None
        self.log(f"{kind}: built in {time.monotonic() - started:.1f}s")
        return tag

    def rootfs(self) -> str:
        """The imported root file system, built with mmdebstrap when missing."""
        tag = rootfs_tag()
        if self.exists(tag):
            return tag
        with build_lock(tag, self.log):
            if self.exists(tag):
                return tag
            return self._rootfs(tag)

    def _rootfs(self, tag: str) -> str:
        ensure_packages({"mmdebstrap": "mmdebstrap"}, log=self.log)
        repo, version = tag.split(":")
        with tempfile.TemporaryDirectory(prefix="harness-rootfs-") as tmp:
            tar = Path(tmp) / "rootfs.tar"
            cmd = ["mmdebstrap", "--quiet", *MMDEBSTRAP_OPTIONS, f"--include={','.join(packages())}", SUITE, str(tar)]
            self.log(f"rootfs: mmdebstrap {SUITE} with {len(packages())} packages (about a minute)")
            started = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MMDEBSTRAP_TIMEOUT)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise ImageUnavailable(
                    f"mmdebstrap failed (exit {proc.returncode}): check the package list in "
                    f"{RECIPES / 'packages.txt'} and that Debian's mirror is reachable", tail)
            self.log(f"rootfs: debootstrapped in {time.monotonic() - started:.1f}s, importing as {tag}")
            self.engine.client.api.import_image_from_file(
                str(tar), repository=repo, tag=version, changes=[f"LABEL {PROFILE_LABEL}=debian"])
        return tag
