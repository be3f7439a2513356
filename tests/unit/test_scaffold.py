"""``harness init``: what it writes, the CI choice, and that it never overwrites."""
from __future__ import annotations

import pytest

from harness import __version__
from harness.cli import main
from harness.errors import HarnessError
from harness.scaffold import Scaffold

LAYOUT = {"app/server.conf", "app/lua/app.lua", "tests/test_app.py", "scenarios/app.scenario.yaml"}


def written(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_init_writes_the_app_a_test_a_scenario_and_github_actions(tmp_path, capsys):
    assert main(["init", str(tmp_path / "proj")]) == 0
    assert written(tmp_path / "proj") == LAYOUT | {".github/workflows/openresty-harness.yml"}
    workflow = (tmp_path / "proj" / ".github/workflows/openresty-harness.yml").read_text()
    assert f'pip install "openresty-harness=={__version__}"' in workflow and "harness run" in workflow
    assert "next: cd " in capsys.readouterr().out


@pytest.mark.parametrize("ci, extra", [("gitlab", {".gitlab-ci.yml"}), ("none", set())])
def test_init_ci_choice(tmp_path, ci, extra):
    Scaffold(tmp_path, ci=ci).write()
    assert written(tmp_path) == LAYOUT | extra


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("mine")
    with pytest.raises(HarnessError, match=r"init would overwrite .*tests/test_app\.py .*nothing was written\): "
                                           r"move it away or run `harness init NEW-DIR`"):
        Scaffold(tmp_path).write()
    assert written(tmp_path) == {"tests/test_app.py"} and (tmp_path / "tests" / "test_app.py").read_text() == "mine"
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("harness: init would overwrite")


@pytest.mark.parametrize("ci, dest", [("github", ".github/workflows/openresty-harness.yml"), ("gitlab", ".gitlab-ci.yml")])
def test_init_matrix_runs_tests_and_scenarios_on_each_image(tmp_path, ci, dest):
    assert main(["init", str(tmp_path), "--ci", ci, "--matrix", "openresty/openresty:1.27.1.2-0-bookworm,twin:trixie"]) == 0
    text = (tmp_path / dest).read_text()
    assert "pytest tests --junitxml=reports/tests.xml --openresty-image openresty/openresty:1.27.1.2-0-bookworm " \
           "--openresty-image twin:trixie\n" in text
    assert "harness run --image openresty/openresty:1.27.1.2-0-bookworm --image twin:trixie " in text
    assert "__" not in text
    import yaml

    assert yaml.safe_load(text)  # still YAML


def test_init_without_matrix_leaves_no_token(tmp_path):
    Scaffold(tmp_path, ci="gitlab").write()
    text = (tmp_path / ".gitlab-ci.yml").read_text()
    assert "__" not in text and "harness run           # ./scenarios" in text
    Scaffold(tmp_path / "gh").write()
    text = (tmp_path / "gh" / ".github/workflows/openresty-harness.yml").read_text()
    assert "__" not in text and "run: pytest tests --junitxml=reports/tests.xml\n" in text
    assert main(["init", str(tmp_path / "x"), "--matrix", "twin:sid,twin:trixie"]) == 2


@pytest.mark.parametrize("ci, name", [("github", ".github/workflows/openresty-harness.yml"), ("gitlab", ".gitlab-ci.yml")])
def test_init_coverage_option_puts_the_flag_on_the_tests_line(tmp_path, ci, name):
    assert main(["init", str(tmp_path / "with"), "--ci", ci, "--coverage"]) == 0
    Scaffold(tmp_path / "without", ci=ci).write()
    with_text, without = ((tmp_path / d / name).read_text() for d in ("with", "without"))
    assert "pytest tests --junitxml=reports/tests.xml --harness-coverage\n" in with_text
    assert "pytest tests --junitxml=reports/tests.xml\n" in without and "add --harness-coverage" in without
    assert "__HARNESS" not in with_text + without
