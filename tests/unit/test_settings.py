import pytest

from harness.configuration import ALL_OPTIONS, options_markdown
from harness.scenarios.settings import ScenarioSettings
from harness.settings import OPTIONS, Settings
from harness.tnginx.settings import TSettings


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
    assert not {"app", "scenario_report", "t_paths", "t_lanes", "fault", "lua_path", "check_leak"} & {
        opt.name for opt in OPTIONS}


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
