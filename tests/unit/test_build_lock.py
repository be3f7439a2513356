"""Offline images are built once even when several runs (xdist workers, two `make` runs) need them at once."""
import multiprocessing
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from docker.errors import ImageNotFound

from harness.errors import ImageUnavailable
from harness.images import offline


class FakeImages:
    """An engine's image store in files, so that separate processes share it."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def _path(self, tag: str) -> Path:
        return self.store / tag.replace("/", "_").replace(":", "_")

    def get(self, tag: str):
        if tag == offline.rootfs_tag() or self._path(tag).exists():
            return SimpleNamespace(id=tag)
        raise ImageNotFound(tag)

    def build(self, tag: str, **kwargs):
        with open(self.store / "builds.log", "a") as log:
            log.write(tag + "\n")
        time.sleep(0.5)  # a build takes a while: the other process arrives meanwhile
        self._path(tag).write_text("built")


def build_in_a_process(store: str, tmp: str) -> None:
    tempfile.tempdir = tmp  # the lock file lives here
    engine = SimpleNamespace(client=SimpleNamespace(images=FakeImages(Path(store))))
    offline.OfflineBuilder(engine, log=lambda line: None).build("redis")


def test_two_processes_needing_the_same_build_build_it_once(tmp_path):
    store, locks = tmp_path / "store", tmp_path / "locks"
    store.mkdir()
    locks.mkdir()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=build_in_a_process, args=(str(store), str(locks))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert (store / "builds.log").read_text().splitlines() == [offline.image_tag("redis")]


def test_a_lock_held_too_long_is_an_error_naming_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with offline.build_lock("x/y:1"):
        with pytest.raises(ImageUnavailable, match=r"another run has been building x/y:1 for 0s: wait for it, "
                                                   r"or end it and remove .*openresty-harness-build-x_y_1\.lock"):
            with offline.build_lock("x/y:1", log=lambda line: None, timeout=0.3):
                pass
    with offline.build_lock("x/y:1", timeout=0.3):  # released: free again
        pass
