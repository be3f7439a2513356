"""``WriteReadProbe``: an app's Redis path exercised while a fault runs. In a thread, each step
writes a new key through the app (``GET /set?key=K&value=V``), then reads it back (``GET /get?key=K``);
every step is a :class:`Sample`, and every write the app acknowledged (200) is remembered, so that
lost writes can be named by key afterwards."""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import httpx


@dataclass(frozen=True)
class Sample:
    at: float            # time.monotonic() when the step began
    ok: bool             # written (200) and read back right
    wrong: bool          # an acknowledged write read back as something else, with a 200
    detail: str          # "" when ok; else what went wrong ("set 500", "get timeout", "get 'nil' != '7'")
    key: str = ""        # the key the step wrote


class WriteReadProbe:
    """``with WriteReadProbe(nginx.base_url) as probe: ...`` (a step every ``interval`` seconds,
    each request at most ``timeout`` seconds)."""

    def __init__(self, base_url: str, interval: float = 0.05, timeout: float = 1.0, prefix: str = "") -> None:
        self.client = httpx.Client(base_url=base_url, timeout=timeout)
        self.interval = interval
        self.prefix = prefix or f"probe-{uuid.uuid4().hex[:8]}-"  # nothing to URL-escape
        self.samples: list[Sample] = []
        self.acked: dict[str, tuple[float, str]] = {}  # key -> (when acknowledged, value)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def __enter__(self) -> "WriteReadProbe":
        self._thread = threading.Thread(target=self._run, name="write-read-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.close()

    def _run(self) -> None:
        for i in itertools.count():
            if self._stop.is_set():
                return
            began = time.monotonic()
            sample = self.step(f"{self.prefix}{i}", str(i))
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def step(self, key: str, value: str) -> Sample:
        began = time.monotonic()
        try:
            written = self.client.get("/set", params={"key": key, "value": value})
        except httpx.HTTPError as exc:
            return Sample(began, False, False, f"set {type(exc).__name__}", key)
        if written.status_code != 200:
            return Sample(began, False, False, f"set {written.status_code}", key)
        with self._lock:
            self.acked[key] = (time.monotonic(), value)
        try:
            read = self.client.get("/get", params={"key": key})
        except httpx.HTTPError as exc:
            return Sample(began, False, False, f"get {type(exc).__name__}", key)
        if read.status_code != 200:
            return Sample(began, False, False, f"get {read.status_code}", key)
        got = read.text.strip()
        if got != value:
            return Sample(began, False, True, f"get {got!r} != {value!r}", key)
        return Sample(began, True, False, "", key)

    def snapshot(self) -> tuple[list[Sample], dict[str, tuple[float, str]]]:
        with self._lock:
            return list(self.samples), dict(self.acked)

    def good_since(self, after: float) -> int:
        """Good steps that began after ``after``."""
        samples, _ = self.snapshot()
        return sum(1 for s in samples if s.ok and s.at >= after)
