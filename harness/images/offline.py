"""Build the offline twins from Debian packages: mmdebstrap, then ``docker import``, then a Dockerfile.

Recipes live in ``recipes/<release>/`` (``packages.txt`` for the root file system, ``<kind>/Dockerfile``
per image) plus ``recipes/common/``. The OpenResty twin comes from the release the ``twin`` setting
names (trixie by default, bookworm on request); the Redis, memcached and tools twins always come from
:data:`SERVICES_RELEASE`. Tags carry a hash of the recipe, so a build is skipped while the recipe is
unchanged and redone when it changes.
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
from harness.resources import shipped

RECIPES = shipped("harness.images", "recipes")
NAMESPACE = "openresty-harness"
KINDS = ("openresty", "redis", "tools", "memcached")
RELEASES = ("trixie", "bookworm")  # the Debian releases that have recipes; the first is the default twin
DEFAULT_RELEASE = RELEASES[0]
# Redis and the sidecars' Python: trixie's redis-server 8.0 is the closest Debian has to the
# official redis 8.x pin, its memcached 1.6 matches the official memcached:1.6 image, and its python3 3.13
# matches the official python:3.13 tools image.
SERVICES_RELEASE = "trixie"
MMDEBSTRAP_OPTIONS = (
    "--variant=apt",
    "--aptopt=Apt::Install-Recommends \"false\"",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
MMDEBSTRAP_TIMEOUT = 900
BUILD_LOCK_TIMEOUT = MMDEBSTRAP_TIMEOUT + 600  # a rootfs and an image build, at most


def release_for(kind: str, twin: str = DEFAULT_RELEASE) -> str:
    """The Debian release the offline image of ``kind`` is built from, for the ``twin`` setting."""
    if twin not in RELEASES:
        raise ImageUnavailable(f"no offline recipe for Debian {twin!r}: HARNESS_TWIN must be one of {', '.join(RELEASES)}")
    return twin if kind == "openresty" else SERVICES_RELEASE


def _lines(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def packages(release: str = DEFAULT_RELEASE) -> list[str]:
    return _lines(RECIPES / release / "packages.txt")


def stand_ins(release: str = DEFAULT_RELEASE) -> list[str]:
    """Packages the root file system only pretends to have (``recipes/<release>/stand-ins.txt``)."""
    return _lines(RECIPES / release / "stand-ins.txt")


STAND_IN = "openresty-harness-stand-in"


def stand_in_deb(dest: Path, provides: list[str]) -> Path:
    """An empty package that ``Provides:`` ``provides``, so a dependency on them pulls nothing in."""
    root = dest / STAND_IN
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {STAND_IN}\nVersion: 1\nArchitecture: all\nMaintainer: openresty-harness <root@localhost>\n"
        f"Provides: {', '.join(provides)}\nDescription: stands in for {', '.join(provides)}\n"
        " Built by openresty-harness for its offline twins; see harness/images/recipes.\n")
    deb = dest / f"{STAND_IN}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True, timeout=60)
    return deb


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:12]


def rootfs_tag(release: str = DEFAULT_RELEASE) -> str:
    recipe = [release, *MMDEBSTRAP_OPTIONS, *packages(release), *(f"stand-in {p}" for p in stand_ins(release))]
    return f"{NAMESPACE}/rootfs:{release}-{_digest(chr(10).join(recipe).encode())}"


def _recipe_files(kind: str, release: str) -> list[Path]:
    return sorted(p for d in (RECIPES / release / kind, RECIPES / "common") for p in d.rglob("*") if p.is_file())


def image_tag(kind: str, release: str = DEFAULT_RELEASE) -> str:
    """The tag of the offline image of ``kind`` built from ``release``, for the current recipe."""
    parts = [rootfs_tag(release).encode()]
    parts += [p.relative_to(RECIPES).as_posix().encode() + p.read_bytes() for p in _recipe_files(kind, release)]
    return f"{NAMESPACE}/{kind}:{release}-{_digest(*parts)}"


def twin_tag(kind: str, twin: str = DEFAULT_RELEASE) -> str:
    """The tag of the offline twin of ``kind`` that the ``twin`` setting selects."""
    return image_tag(kind, release_for(kind, twin))


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

    def __init__(self, engine: Engine, log: Callable[[str], None] = print, twin: str = DEFAULT_RELEASE) -> None:
        self.engine = engine
        self.log = log
        self.twin = twin

    def exists(self, tag: str) -> bool:
        try:
            self.engine.client.images.get(tag)
            return True
        except ImageNotFound:
            return False

    def build(self, kind: str) -> str:
        release = release_for(kind, self.twin)
        tag = image_tag(kind, release)
        if self.exists(tag):
            self.log(f"{kind}: {tag} is up to date")
            return tag
        with build_lock(tag, self.log):  # another run (an xdist worker, a second `make`) may build it
            if self.exists(tag):
                self.log(f"{kind}: {tag} was built meanwhile by another run")
                return tag
            return self._build(kind, release, tag)

    def _build(self, kind: str, release: str, tag: str) -> str:
        base = self.rootfs(release)
        self.log(f"{kind}: building {tag} FROM {base}")
        started = time.monotonic()
        try:
            self.engine.client.images.build(
                path=str(RECIPES), dockerfile=f"{release}/{kind}/Dockerfile", tag=tag, buildargs={"ROOTFS": base},
                rm=True, forcerm=True,
                pull=False, labels={"org.openresty-harness.recipe": tag.rsplit("-", 1)[1]})
        except BuildError as exc:
            lines = "\n".join(str(chunk.get("stream", chunk.get("error", ""))).rstrip() for chunk in exc.build_log)
            raise ImageUnavailable(f"building {tag} failed: {exc.msg}", lines[-3000:]) from None
        self.log(f"{kind}: built in {time.monotonic() - started:.1f}s")
        return tag

    def rootfs(self, release: str = DEFAULT_RELEASE) -> str:
        """The imported root file system of ``release``, built with mmdebstrap when missing."""
        tag = rootfs_tag(release)
        if self.exists(tag):
            return tag
        with build_lock(tag, self.log):
            if self.exists(tag):
                return tag
            return self._rootfs(release, tag)

    def _rootfs(self, release: str, tag: str) -> str:
        ensure_packages({"mmdebstrap": "mmdebstrap", "dpkg-deb": "dpkg"}, log=self.log)
        repo, version = tag.split(":")
        with tempfile.TemporaryDirectory(prefix="harness-rootfs-") as tmp:
            tar = Path(tmp) / "rootfs.tar"
            include = packages(release)
            hooks = []
            if stand_ins(release):  # installed before the packages, so their dependency is already met
                deb = stand_in_deb(Path(tmp), stand_ins(release))
                hooks = [f"--essential-hook=copy-in {deb} /tmp",
                         f'--essential-hook=chroot "$1" dpkg -i /tmp/{deb.name} && rm "$1/tmp/{deb.name}"']
            cmd = ["mmdebstrap", "--quiet", *MMDEBSTRAP_OPTIONS, *hooks, f"--include={','.join(include)}", release,
                   str(tar)]
            self.log(f"rootfs: mmdebstrap {release} with {len(include)} packages (about a minute)")
            started = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MMDEBSTRAP_TIMEOUT)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise ImageUnavailable(
                    f"mmdebstrap failed (exit {proc.returncode}): check the package list in "
                    f"{RECIPES / release / 'packages.txt'} and that Debian's mirror is reachable", tail)
            self.log(f"rootfs: debootstrapped in {time.monotonic() - started:.1f}s, importing as {tag}")
            self.engine.client.api.import_image_from_file(
                str(tar), repository=repo, tag=version, changes=[f"LABEL {PROFILE_LABEL}={release}"])
        return tag
