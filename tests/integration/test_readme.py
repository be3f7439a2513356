"""The README's examples run as written."""
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)


def test_every_test_example_passes(pytester, harness_stage):
    blocks = [b for b in python_blocks() if "def test_" in b]
    assert len(blocks) >= 2
    pytester.makepyfile(**{f"test_readme_{i}": block for i, block in enumerate(blocks)})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures-dir", str(REPO / "nginx-fixtures"))
    result.assert_outcomes(passed=sum(b.count("\ndef test_") + b.startswith("def test_") for b in blocks))


def test_stage_example_runs_without_pytest(harness_stage):
    block = next(b for b in python_blocks() if "Stage.open()" in b)
    done = subprocess.run([sys.executable, "-c", block], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1\n") and "master" in done.stdout


def test_the_scenario_example_runs_with_harness_run(tmp_path, harness_stage):
    block = re.search(r"```yaml\n# checks/redis-down.scenario.yaml\n(.*?)```", (REPO / "README.md").read_text(),
                      re.DOTALL).group(1)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "redis-down.scenario.yaml").write_text(block)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "checks", "--pytest=--fixtures-dir",
                           f"--pytest={REPO / 'nginx-fixtures'}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "scenarios: 1/1 passed" in done.stdout and (tmp_path / "reports" / "scenarios.html").exists()
