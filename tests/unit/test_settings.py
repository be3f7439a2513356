import pytest

from dataclasses import fields
from pathlib import Path

from harness.configuration import ALL_OPTIONS, SETTINGS, options_markdown
from harness.perf.settings import PerfSettings
from harness.preflight.settings import PreflightSettings
from harness.scenarios.settings import ScenarioSettings
from harness.settings import OPTIONS, Settings
from harness.tnginx.settings import TSettings

PACKAGE = Path(__file__).resolve().parents[2] / "harness"


def test_defaults_without_any_source():
    s = Settings.from_sources({}, environ={})
    assert (s.reach, s.reuse, s.pull, s.start_timeout, s.ci) == ("auto", "hup", "auto", 30.0, False)


def test_command_line_beats_environment_beats_default():
    env = {"HARNESS_REACH": "published", "HARNESS_START_TIMEOUT": "7", "CI": "true"}
    s = Settings.from_sources({"reach": "direct"}, environ=env)
    assert s.reach == "direct"
    assert s.start_timeout == 7.0
    assert s.ci is True


def test_invalid_choice_names_variable_and_choices():
    with pytest.raises(ValueError, match=r"HARNESS_REACH/--harness-reach='sideways'.*auto, direct, published"):
        Settings.from_sources({}, environ={"HARNESS_REACH": "sideways"})


def test_docs_table_lists_every_option():
    table = options_markdown()
    for opt in ALL_OPTIONS:
        assert f"`{opt.env}`" in table and f"`{opt.flag}`" in table


def test_core_settings_hold_only_core_options():
    """Each front end's options live with it: one definition each, none of them in the core's."""
    names = [opt.name for opt in ALL_OPTIONS]
    assert len(names) == len(set(names)) and len({o.env for o in ALL_OPTIONS}) == len(names)
    assert not {"app", "scenario_report", "t_paths", "t_lanes", "fault", "lua_path", "check_leak", "perf_tolerance",
                "preflight_cpus", "preflight_memory", "preflight_nofile", "preflight_workers"} & {
        opt.name for opt in OPTIONS}


def test_each_settings_class_has_one_field_per_option_and_no_default_of_its_own():
    """The option holds the default and the doc; the field only its type (the core's ``ci`` is no option)."""
    for cls in SETTINGS:
        own = [f for f in fields(cls) if f.name != "ci"]
        assert [f.name for f in own] == [opt.name for opt in cls.OPTIONS], cls
        assert all(f.default is f.default_factory for f in own), cls  # both MISSING


def test_an_option_named_after_a_package_is_defined_in_that_package():
    """``HARNESS_PREFLIGHT_*`` sits in harness/preflight/settings.py, ``HARNESS_PERF_*`` in harness/perf/,
    ``HARNESS_T_*`` in harness/tnginx/, ``HARNESS_SCENARIO_*`` in harness/scenarios/: not in the core."""
    owners = {"PREFLIGHT": "preflight", "PERF": "perf", "T": "tnginx", "SCENARIO": "scenarios"}
    for cls in SETTINGS:
        package = cls.__module__.split(".")[1]
        for opt in cls.OPTIONS:
            owner = owners.get(opt.env.split("_")[1])
            assert owner is None or owner == package, f"{opt.env} is defined in {cls.__module__}, not harness.{owner}"
        assert package == "settings" or (PACKAGE / package / "settings.py").is_file()


def test_moved_options_keep_their_variables_and_flags():
    """Moving an option to its owner changes neither its variable nor its pytest flag."""
    p = PreflightSettings.from_sources({"preflight_cpus": "2"}, environ={"HARNESS_PREFLIGHT_WORKERS": "auto"})
    assert (p.preflight_cpus, p.preflight_memory, p.preflight_nofile, p.preflight_workers) == (2.0, "256m", "", "auto")
    assert PerfSettings.from_sources(environ={"HARNESS_PERF_TOLERANCE": "0.1"}).perf_tolerance == 0.1
    flags = {opt.env: opt.flag for opt in ALL_OPTIONS}
    assert flags["HARNESS_PERF_TOLERANCE"] == "--perf-tolerance"
    assert {flags[f"HARNESS_PREFLIGHT_{n}"] for n in ("CPUS", "MEMORY", "NOFILE", "WORKERS")} == {
        "--preflight-cpus", "--preflight-memory", "--preflight-nofile", "--preflight-workers"}


def test_front_end_settings_read_command_line_environment_defaults():
    t = TSettings.from_sources({"t_lanes": "3"}, environ={"HARNESS_CHECK_LEAK": "on", "HARNESS_T_LANES": "9"})
    assert (t.t_paths, t.t_lanes, t.fault, t.checks_leaks) == ("t", "3", "", True)
    s = ScenarioSettings.from_sources({}, environ={"HARNESS_APP": "/app"})
    assert (s.app, s.scenario_report) == ("/app", "")
    with pytest.raises(ValueError, match=r"HARNESS_CHECK_LEAK/--harness-check-leak='maybe'.*off, on"):
        TSettings.from_sources({}, environ={"HARNESS_CHECK_LEAK": "maybe"})


def test_fixture_search_path_puts_override_first(tmp_path):
    s = Settings.from_sources({"fixtures_dir": str(tmp_path)}, environ={})
    path = s.fixture_search_path(tmp_path / "proj")
    assert path[0] == tmp_path
    assert path[1] == tmp_path / "proj" / "nginx-fixtures"
