"""ReadAhead (harness.tnginx.readahead): perl reads several `.t` files at once, the environment is
worked out once, and a file's error is its own collector's."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.tnginx.load import TFile, TFileError
from harness.tnginx.readahead import ReadAhead

WAIT = 10.0


def test_files_are_read_side_by_side_with_one_environment():
    both = threading.Barrier(2, timeout=WAIT)  # broken unless two reads are in flight at once
    envs: list[int] = []

    def load(path: Path, env: dict) -> TFile:
        both.wait()
        return TFile(path, path.parent, {"env": env["N"]})

    def env() -> dict:
        envs.append(1)
        return {"N": str(len(envs))}
    reader = ReadAhead(env, workers=2, load=load)
    reader.start(Path("/s/t/a.t"))
    reader.start(Path("/s/t/b.t"))
    assert reader.get(Path("/s/t/a.t")).settings == {"env": "1"}
    assert reader.get(Path("/s/t/b.t")).settings == {"env": "1"}
    assert envs == [1]
    reader.close()


def test_a_file_perl_cannot_read_raises_for_that_file_only():
    def load(path: Path, env: dict) -> TFile:
        if path.name == "bad.t":
            raise TFileError(f"{path}: perl could not run the file")
        return TFile(path, path.parent, {})
    reader = ReadAhead(lambda: {}, load=load)
    reader.start(Path("/s/t/bad.t"))
    with pytest.raises(TFileError, match="bad.t"):
        reader.get(Path("/s/t/bad.t"))
    assert reader.get(Path("/s/t/good.t")).path == Path("/s/t/good.t")  # never started: read when asked
    reader.close()
