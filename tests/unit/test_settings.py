import pytest

from harness.settings import OPTIONS, Settings, options_markdown


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
    for opt in OPTIONS:
        assert f"`{opt.env}`" in table and f"`{opt.flag}`" in table


def test_fixture_search_path_puts_override_first(tmp_path):
    s = Settings.from_sources({"fixtures_dir": str(tmp_path)}, environ={})
    path = s.fixture_search_path(tmp_path / "proj")
    assert path[0] == tmp_path
    assert path[1] == tmp_path / "proj" / "nginx-fixtures"
