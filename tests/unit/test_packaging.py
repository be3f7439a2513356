"""What the wheel ships: every package, the fixtures the catalogue, perf and the sample app use, and
every source file of every package (a file deleted from a built wheel is caught)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import resources
from harness.cli import main
from harness.nginx_conf import Fixture
from harness.perf import cli as perf_cli
from harness.scaffold import Scaffold
from harness.scenarios.loader import load_file
from harness.scenarios.runner import DEFAULT_APP
from harness.scenarios.spec import InlineFixture, Scenario
from tests.conftest import REPO
from tests.wheel import build_wheel, missing_from_wheel, without


def fixture_references(scenario: Scenario) -> list[str]:
    """Every fixture a scenario names: its own (or its inline fixture's base), its upstream, its reloads."""
    spec = scenario.fixture
    refs = [spec.base if isinstance(spec, InlineFixture) else spec, scenario.upstream]
    refs += [step.reload for step in scenario.steps]
    return [r for r in refs if r]


def shipped_fixture(reference: str, source: Path) -> Fixture:
    """Resolve like the scenario runner, but only inside the installed package."""
    if reference == "app":
        return Fixture.load(resources.fixtures_dir() / DEFAULT_APP)
    if "/" in reference or reference.startswith("."):
        directory = (source.parent / reference).resolve()
        package = resources.shipped("harness").resolve()
        roots = [resources.catalogue_dir().resolve(), resources.fixtures_dir().resolve(), package]
        assert any(directory.is_relative_to(r) for r in roots), f"{source}: {reference} is not in the package"
        return Fixture.load(directory)
    return Fixture.load(reference, [resources.fixtures_dir()])


def test_every_package_under_harness_is_listed_in_pyproject():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "harness").rglob("__init__.py")
               if "templates" not in p.parts}
    mapped = set(setuptools["package-dir"])
    listed = set(setuptools["packages"])
    assert not on_disk - listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert listed == on_disk | mapped, f"no such package: {sorted(listed - on_disk - mapped)}"


def test_shipped_directories_are_the_repositorys_own_one_copy():
    assert resources.fixtures_dir().resolve() == REPO / "nginx-fixtures"
    assert resources.catalogue_dir().resolve() == REPO / "scenarios" / "catalogue"


def test_every_fixture_the_catalogue_names_is_shipped():
    files = sorted(resources.catalogue_dir().glob("*.scenario.yaml"))
    assert len(files) >= 19
    checked = 0
    for path in files:
        for loaded in load_file(path):
            for reference in fixture_references(loaded.scenario):
                shipped_fixture(reference, path)
                checked += 1
    assert checked > 40


def test_perf_defaults_and_the_sample_app_are_shipped():
    parser = argparse.ArgumentParser()
    perf_cli.add_parser(parser.add_subparsers(), "perf")
    for command in ("baseline", "compare"):
        default = parser.parse_args(["perf", command]).fixture
        assert Fixture.load(default, [resources.fixtures_dir()]).source == resources.fixtures_dir() / default
    assert "server.conf" in Fixture.load(resources.fixtures_dir() / DEFAULT_APP).snippets


def test_the_scaffolds_scenario_names_the_scaffolds_app(tmp_path):
    Scaffold(tmp_path).write()
    (loaded, *more) = load_file(tmp_path / "scenarios" / "app.scenario.yaml")
    for item in (loaded, *more):
        (reference,) = fixture_references(item.scenario)
        assert Fixture.load(item.path.parent / reference).source == tmp_path / "app"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_every_source_file_of_every_package(wheel):
    assert missing_from_wheel(wheel, REPO) == []


def test_a_file_deleted_from_the_wheel_is_caught(wheel, tmp_path):
    gone = {"harness/fixtures/hello/server.conf", "harness/catalogue/01-redis-unreachable.scenario.yaml",
            "harness/lualib/heartbeat.lua", "harness/images/recipes/trixie/packages.txt",
            "harness/templates/project/app/server.conf", "harness/py.typed"}
    assert missing_from_wheel(without(wheel, gone, tmp_path), REPO) == sorted(gone)


def test_version(capsys):
    from harness import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"openresty-harness {__version__}\n"


def test_the_readme_quick_start_installs_this_version():
    from harness import __version__

    assert f"pip install openresty_harness-{__version__}-py3-none-any.whl" in (REPO / "README.md").read_text()


def test_harness_run_without_paths_runs_the_shipped_catalogue_and_reports_here(tmp_path, monkeypatch):
    from harness.scenarios.run import ScenarioRun

    monkeypatch.chdir(tmp_path)
    args = ScenarioRun(reports=Path("out")).args()
    assert args[0] == str(resources.catalogue_dir())
    assert f"--rootdir={tmp_path}" in args and f"--harness-reports-dir={tmp_path / 'out'}" in args
    (tmp_path / "scenarios").mkdir()
    assert ScenarioRun().args()[0] == str(tmp_path / "scenarios")  # a project's own come first


def test_harness_t_and_the_other_commands_load_no_perf_modules():
    """`harness perf`'s modules come with numpy and locust: other commands never import them (its option,
    harness.perf.settings, is read without them)."""
    code = ("import sys; from harness.cli import main; main(['options']); "
            "sys.exit(sorted(m for m in sys.modules if m.startswith(('harness.perf', 'numpy', 'locust'))"
            " and m not in ('harness.perf', 'harness.perf.settings')) != [])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
