"""`harness t` end to end: a faulty .t file fails with exit 1 and says why, per block; the
healthy suite (tests/tnginx/t/sections.t) is collected by `make test` itself."""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent.parent / "tnginx"


def test_harness_t_reports_each_failed_block_and_exits_1(harness_stage, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(HERE / "faulty" / "broken.t"),
                           "--reports", str(tmp_path)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "response_body 'actual', expected 'expected'" in out
    assert "no_error_log: '[error]' found in:" in out and "boom" in out
    assert "0 passed, 2 failed, 0 skipped" in out
    assert (tmp_path / "t.xml").is_file()
