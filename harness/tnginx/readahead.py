"""perl reads the `.t` files side by side while pytest collects them one by one: pytest finds every
file of a directory (or of the command line) before it collects the first, and each file it finds is
handed to :class:`ReadAhead` at once; its collector then takes the finished blocks. The environment
perl runs with (the image's stand-in ``nginx``) is worked out once, by the first file's reader."""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Mapping, Optional

from harness.tnginx.load import TFile, load_tfile


class ReadAhead:
    """``start(path)``: perl begins reading ``path`` (at most ``workers`` files at once); ``get(path)``:
    its :class:`~harness.tnginx.load.TFile` (or its :class:`~harness.tnginx.load.TFileError`)."""

    def __init__(self, env: Callable[[], Mapping[str, str]], workers: Optional[int] = None,
                 load: Callable[..., TFile] = load_tfile) -> None:
        self.env_of = env
        self.load = load
        self.lock = threading.Lock()
        self.env_lock = threading.Lock()
        self._env: Optional[Mapping[str, str]] = None
        self._pool = ThreadPoolExecutor(workers or max(2, os.cpu_count() or 1), thread_name_prefix="harness-t-perl")
        self._files: dict[Path, Future[TFile]] = {}

    def _read(self, path: Path) -> TFile:
        with self.env_lock:  # the first reader works the environment out; the others wait for it
            if self._env is None:
                self._env = dict(self.env_of())
            env = self._env
        return self.load(path, env=env)

    def start(self, path: Path) -> None:
        with self.lock:
            if path not in self._files:
                self._files[path] = self._pool.submit(self._read, path)

    def get(self, path: Path) -> TFile:
        self.start(path)
        return self._files[path].result()

    def close(self) -> None:
        """Stop reading what nobody asked for (a run stopped while collecting)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
