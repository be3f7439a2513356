"""Stage: its network is made once, however many of the pool's preparations ask for it at once."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from harness.settings import Settings
from harness.stage import Stage


def test_side_by_side_preparations_share_one_network(monkeypatch):
    stage = Stage(SimpleNamespace(client=None, is_local=True), Settings.from_sources({"reach": "direct"}, environ={}))
    made: list[str] = []
    barrier = threading.Barrier(4)

    def network(internal: bool, kind: str):
        made.append(kind)
        time.sleep(0.05)  # an engine call takes this long: long enough for the others to ask meanwhile
        return SimpleNamespace(kind=kind, internal=internal)

    monkeypatch.setattr(stage, "_network", network)

    def ask(_: int):
        barrier.wait()
        return stage.reach

    with ThreadPoolExecutor(4) as pool:
        reaches = list(pool.map(ask, range(4)))
    assert made == ["net"]
    assert all(r is reaches[0] for r in reaches)
