"""`harness t --watch` without an engine: what is watched, which files a change re-runs, and the
command line's one-line errors (the rounds themselves: tests/integration/test_tnginx_watch.py)."""
from pathlib import Path

import pytest

from harness.cli import main
from harness.tnginx.settings import TSettings
from harness.tnginx.watch import Round, Targets, t_files


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    for name in ("t/a.t", "t/b.t", "t/sub/c.t", "t/Util.pm", "lib/resty/demo.lua"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    return tmp_path


def test_directories_given_are_searched_for_t_files(suite):
    assert t_files([suite / "t"]) == [suite / "t/a.t", suite / "t/b.t", suite / "t/sub/c.t"]
    assert t_files([suite / "t/b.t", suite / "t"])[0] == suite / "t/b.t"  # given first, no file twice


def test_watched_directories_are_the_suite_s_t_and_lib_and_the_lua_dirs(suite, tmp_path_factory):
    deps = tmp_path_factory.mktemp("deps")
    targets = Targets([suite / "t/a.t"], lua_dirs=[deps, deps / "missing"])
    assert set(targets.directories()) == {suite / "lib", suite / "t", deps}
    assert set(Targets([suite / "t/sub"]).directories()) == {suite / "lib", suite / "t"}  # t/sub is below t/


def test_a_saved_t_file_reruns_itself_and_any_other_change_every_watched_file(suite):
    targets = Targets([suite / "t/a.t", suite / "t/b.t"])
    assert targets.affected([suite / "t/b.t"]) == [suite / "t/b.t"]
    assert targets.affected([suite / "lib/resty/demo.lua"]) == [suite / "t/a.t", suite / "t/b.t"]
    assert targets.affected([suite / "t/Util.pm"]) == [suite / "t/a.t", suite / "t/b.t"]  # t::Util, fixtures
    assert targets.affected([suite / "t/sub/c.t"]) == []  # in a watched directory, but not given


def test_a_new_t_file_below_a_given_directory_joins_and_a_deleted_one_leaves(suite):
    targets = Targets([suite / "t"])
    (suite / "t/d.t").write_text("")
    assert targets.affected([suite / "t/d.t"]) == [suite / "t/d.t"]
    (suite / "t/a.t").unlink()
    assert targets.affected([suite / "t/a.t"]) == []
    assert suite / "t/a.t" not in targets.files and suite / "t/d.t" in targets.files


def test_editor_probe_and_auto_save_files_and_servroot_are_ignored(suite):
    targets = Targets([suite / "t"])
    assert targets.affected([suite / "t/4913", suite / "t/servroot/logs/error.log", suite / "t/#a.t#"]) == []


def test_round_summary_counts_each_verdict():
    tally = Round(3, perl_s=0.031, seconds=0.42)
    for verdict in ("passed", "passed", "failed", "error", "skipped"):
        tally.count(verdict)
    assert tally.summary("t/a.t changed") == ("round 3 (t/a.t changed): 2 passed, 2 failed, 1 skipped in 0.42s "
                                              "(perl 0.03s)")


def test_watch_option_is_read_like_the_others():
    assert TSettings.from_sources(environ={"HARNESS_T_WATCH": "on"}).watches
    assert not TSettings.from_sources(environ={}).watches
    with pytest.raises(ValueError, match="HARNESS_T_WATCH/--harness-t-watch='yes': choose one of off, on"):
        TSettings.from_sources(environ={"HARNESS_T_WATCH": "yes"})


def test_watch_refuses_what_it_cannot_do_in_one_line(suite, capsys, monkeypatch):
    assert main(["t", "--watch", str(suite / "t"), "--image", "twin:trixie", "--image", "twin:bookworm"]) == 2
    assert "--watch runs on one image, without --harness-coverage or --pytest" in capsys.readouterr().err
    assert main(["t", "--watch", str(suite / "nothing.t")]) == 2
    assert "no such .t file or directory" in capsys.readouterr().err
    monkeypatch.setenv("HARNESS_T_WATCH", "yes")
    assert main(["t", str(suite / "t")]) == 2
    assert "HARNESS_T_WATCH/--harness-t-watch='yes'" in capsys.readouterr().err


def test_pytest_given_the_watch_option_says_it_is_harness_t_s(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("--harness-t-watch=on", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-t-watch: `harness t --watch PATHS` watches; pytest runs once*"])
    assert pytester.runpytest("--harness-t-watch=off", "-p", "no:cacheprovider").ret == pytest.ExitCode.OK
