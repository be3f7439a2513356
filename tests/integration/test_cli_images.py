"""`harness images list` says which images a run uses and what was built here."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_images_list_names_every_kind_and_its_source(harness_stage):
    done = subprocess.run([sys.executable, "-m", "harness.cli", "images", "list"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "used by a run:"
    for kind in ("openresty", "redis", "tools"):
        ref = harness_stage.resolver.resolve(kind).ref
        assert any(line.split()[:2] == [kind, ref] for line in lines), done.stdout
