"""Lua line coverage without Docker: the hits files, the LCOV writer, the code-line finder's output
and its use, the scope (patterns and the way back to files), the nginx.conf it adds, the options."""
import io
import tarfile
from pathlib import Path

import pytest

from harness.coverage.hits import hits_in_archive, merge, parse_hits
from harness.coverage.html import page
from harness.coverage.lcov import lcov_text, parse_lcov
from harness.coverage.lines import executable_lines, parse_lines_output
from harness.coverage.model import CoverageResult, FileCoverage
from harness.coverage.run import CoverageRun, below_minimum
from harness.coverage.scope import CoverageScope, SourceFile, lua_escape
from harness.errors import HarnessError
from harness.images.profiles import TRIXIE_OPENRESTY
from harness.nginx_conf import Fixture, RenderOptions, render_nginx_conf, write_generation
from harness.settings import Settings

MODULE = b"local _M = {}\n\nfunction _M.f()\n    return 1\nend\n\nreturn _M\n"


def test_hits_files_are_parsed_and_merged():
    text = "@/a.lua\n1 2\n3 1\n@/b.lua\n5 7\nnot a line\n"
    assert parse_hits(text) == {"@/a.lua": {1: 2, 3: 1}, "@/b.lua": {5: 7}}
    assert merge(parse_hits(text), parse_hits("@/a.lua\n1 3\n")) == {"@/a.lua": {1: 5, 3: 1}, "@/b.lua": {5: 7}}


def test_hits_are_read_from_the_engines_archive_of_the_directory():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("coverage/1-2.hits", b"@/a.lua\n1 1\n"), ("coverage/1-2.tmp", b"@/a.lua\n9 9\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert list(hits_in_archive(buf.getvalue())) == ["@/a.lua\n1 1\n"]  # a write in progress is not read


def test_lcov_writer_lists_every_code_line_with_its_count_and_the_totals():
    result = CoverageResult((FileCoverage("/src/b.lua", "", frozenset({1, 4}), {4: 3}),
                             FileCoverage("/src/a.lua", "", frozenset({2}), {})))
    assert lcov_text(result) == ("TN:\nSF:/src/a.lua\nDA:2,0\nLF:1\nLH:0\nend_of_record\n"
                                 "TN:\nSF:/src/b.lua\nDA:1,0\nDA:4,3\nLF:2\nLH:1\nend_of_record\n")
    assert parse_lcov(lcov_text(result)) == {"/src/a.lua": {2: 0}, "/src/b.lua": {1: 0, 4: 3}}
    assert result.summary() == "Lua line coverage: 33.3% (1 of 3 lines in 2 file(s))"
    assert lcov_text(CoverageResult(())) == ""


def test_the_minimum_fails_below_it_only():
    result = CoverageResult((FileCoverage("/a.lua", "", frozenset({1, 2}), {1: 1}),))
    assert below_minimum(result, 0) is None and below_minimum(result, 50) is None
    assert "50.0% is below --harness-coverage-min 51%" in below_minimum(result, 51)


def test_line_finder_output_is_parsed_with_errors_kept():
    out = "abc.lua\t1,3,5\nbad.lua\t!bad.lua:2: unexpected symbol\nempty.lua\t\n"
    assert parse_lines_output(out) == {"abc.lua": frozenset({1, 3, 5}), "bad.lua": "bad.lua:2: unexpected symbol",
                                       "empty.lua": frozenset()}


def test_line_finder_runs_the_script_once_per_distinct_text():
    calls = []

    def run(directory: Path, names: list[str]) -> str:
        calls.append(names)
        assert (directory / "coverage_lines.lua").is_file()
        assert all((directory / n).read_bytes() == MODULE for n in names)
        return "".join(f"{n}\t2,5\n" for n in names)
    same = [SourceFile("/x/a.lua", MODULE, True), SourceFile("inline/lua/a.lua", MODULE, False)]
    found = executable_lines(same, run)
    assert len(calls) == 1 and len(calls[0]) == 1
    assert found == {same[0].digest: frozenset({2, 5})}
    assert executable_lines([], run) == {} and len(calls) == 1


def test_scope_on_covers_fixture_lua_and_mounted_suites_lib(tmp_path):
    (tmp_path / "suite" / "lib").mkdir(parents=True)
    (tmp_path / "suite" / "lib" / "m.lua").write_bytes(MODULE)
    scope = CoverageScope("on", tmp_path)
    fixture = Fixture.inline("inline", config="location / { return 200; }", lua={"app.lua": "return 1\n"})
    mounts = ((str(tmp_path / "suite"), str(tmp_path / "suite")), (str(tmp_path), "/elsewhere"))
    assert scope.patterns(fixture, mounts) == ("^@/harness/gen/%d+/fixture/lua/", f"^@{lua_escape(str(tmp_path))}/suite/lib/")
    assert {s.key for s in scope.candidates(fixture, mounts)} == {"inline/lua/app.lua", str(tmp_path / "suite/lib/m.lua")}
    assert scope.locate("@/harness/gen/3/fixture/lua/app.lua", {3: fixture}, mounts) == \
        SourceFile("inline/lua/app.lua", b"return 1\n", False)
    assert scope.locate(f"@{tmp_path}/suite/lib/m.lua", {}, mounts).key == str(tmp_path / "suite/lib/m.lua")
    assert scope.locate("@/usr/share/lua/5.1/resty/core.lua", {}, mounts) is None
    assert scope.locate("@/harness/gen/4/fixture/lua/app.lua", {3: fixture}, mounts) is None  # unknown generation


def test_scope_paths_are_found_in_the_fixture_or_a_mount(tmp_path):
    app = tmp_path / "app"
    (app / "lua").mkdir(parents=True)
    (app / "server.conf").write_text("location / { return 200; }\n")
    (app / "lua" / "a.lua").write_bytes(MODULE)
    (app / "lua" / "b.lua").write_bytes(MODULE)
    fixture = Fixture.load(app)
    scope = CoverageScope("app/lua/a.lua, app/lua", tmp_path)
    assert scope.patterns(fixture, ()) == ("^@/harness/gen/%d+/fixture/lua/a%.lua", "^@/harness/gen/%d+/fixture/lua")
    assert scope.patterns(fixture, ((str(app), "/srv/app"),)) == (
        "^@/harness/gen/%d+/fixture/lua/a%.lua", "^@/srv/app/lua/a%.lua", "^@/harness/gen/%d+/fixture/lua", "^@/srv/app/lua")
    assert sorted({s.key for s in scope.candidates(fixture, ())}) == [str(app / "lua/a.lua"), str(app / "lua/b.lua")]


def test_a_bad_coverage_value_is_a_one_line_error_naming_the_fix(tmp_path):
    with pytest.raises(HarnessError, match="no such file or directory .*nope: give the Lua files"):
        CoverageScope("nope", tmp_path)
    with pytest.raises(HarnessError, match="give `on`"):
        CoverageScope(" , ", tmp_path)
    assert CoverageRun.from_setting("", tmp_path) is None


def test_run_merges_counts_per_file_and_names_inline_files_by_their_text(tmp_path):
    run = CoverageRun(CoverageScope("on", tmp_path))
    one = Fixture.inline("inline", config="x", lua={"m.lua": MODULE.decode()})
    two = Fixture.inline("inline", config="x", lua={"m.lua": MODULE.decode() + "-- changed\n"})
    for gen, fixture in ((1, one), (2, two)):
        run.patterns(fixture, ())
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("c/1.hits", b"@/harness/gen/1/fixture/lua/m.lua\n1 1\n4 2\n"),
                           ("c/2.hits", b"@/harness/gen/1/fixture/lua/m.lua\n4 1\n"),
                           ("c/3.hits", b"@/harness/gen/2/fixture/lua/m.lua\n1 1\n@/usr/x.lua\n1 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    run.harvest(archive.getvalue(), {1: one, 2: two}, ())
    run.measure(lambda directory, names: "".join(f"{n}\t1,3,4,5,7\n" for n in names))
    result = run.write(tmp_path / "out")
    assert sorted((f.counts for f in result.files), key=len) == [{1: 1}, {1: 1, 4: 3}]
    assert len({f.path for f in result.files}) == 2  # one name, two texts: told apart by their digests
    assert all(Path(f.path).is_file() for f in result.files)  # inline sources written beside the reports
    assert run.unplaced == {"@/usr/x.lua"}
    assert (tmp_path / "out" / "summary.txt").read_text() == "Lua line coverage: 30.0% (3 of 10 lines in 2 file(s))\n"


def test_html_page_lists_files_with_percentages_and_marks_each_line():
    text = "local x = 1\n-- note\nreturn x\n"
    html = page(CoverageResult((FileCoverage("/a.lua", text, frozenset({1, 3}), {1: 4}),)))
    assert '<a href="#f0">/a.lua</a></td><td class="num pct">50.0%</td>' in html
    assert '<tr class="hit" id="L1"><td class="count">4</td><td class="count">1</td><td>local x = 1</td></tr>' in html
    assert '<tr class="none" id="L2"><td class="count"></td><td class="count">2</td><td>-- note</td></tr>' in html
    assert '<tr class="miss" id="L3"><td class="count">0</td>' in html


def test_render_starts_counting_in_master_and_workers_and_flushes_at_exit(tmp_path):
    options = RenderOptions(coverage=("^@/x/",))
    plain = render_nginx_conf(Fixture.inline(config="location / { return 200; }"), TRIXIE_OPENRESTY, 1, options)
    assert 'init_by_lua_block { (package.loaded["harness.coverage"] or dofile("/harness/lualib/coverage.lua"))' \
           '.start_master("/harness/coverage", { [==[^@/x/]==] }) }' in plain
    assert "heartbeat.lua\").start(); (package.loaded" in plain and ".start(\"/harness/coverage\"" in plain
    assert "exit_worker_by_lua_block" in plain
    assert "coverage" not in render_nginx_conf(Fixture.inline(config="location / { return 200; }"), TRIXIE_OPENRESTY, 1)
    # a fixture's own init blocks get the start first, on their own line; no second directive is added
    own = Fixture.inline(config="location / { return 200; }", http_config="init_by_lua_block {\n  a()\n}\n"
                         "init_worker_by_lua_block { b() }\nexit_worker_by_lua_block { c() }")
    gen = write_generation(tmp_path / "gen", own, TRIXIE_OPENRESTY, 1, options)
    http = (gen / "fixture" / "http.conf").read_text().splitlines()
    assert len(http) == 5 and http[0].startswith("init_by_lua_block { (package") and http[0].endswith(".start_master("
                                                                                                    "\"/harness/coverage\", { [==[^@/x/]==] });")
    assert http[3].endswith("{ [==[^@/x/]==] }); b() }") and http[4] == "exit_worker_by_lua_block { c() }"
    conf = (gen / "nginx.conf").read_text()
    assert conf.count("init_by_lua") == 0 and conf.count("exit_worker_by_lua") == 0  # all in the included http.conf
    # a quiet fixture (no harness Lua) gets the counting alone
    quiet = Fixture(name="q", snippets={"server.conf": "location / { return 200; }"}, quiet=True)
    assert "heartbeat" not in render_nginx_conf(quiet, TRIXIE_OPENRESTY, 1, options)
    assert ".start(\"/harness/coverage\"" in render_nginx_conf(quiet, TRIXIE_OPENRESTY, 1, options)


def test_coverage_options_are_settings():
    settings = Settings.from_sources({"coverage": "on", "coverage_min": "80"}, environ={})
    assert settings.coverage == "on" and settings.coverage_min == 80.0
    assert Settings.from_sources(environ={"HARNESS_COVERAGE": "lib"}).coverage == "lib"
    assert Settings.from_sources(environ={}).coverage == ""


def test_a_relative_lua_path_is_covered_and_found_from_nginxs_working_directory(tmp_path):
    (tmp_path / "suite" / "lib" / "resty").mkdir(parents=True)
    (tmp_path / "suite" / "lib" / "resty" / "m.lua").write_bytes(MODULE)
    root = str(tmp_path / "suite")
    scope = CoverageScope("on", tmp_path)
    fixture = Fixture.inline(config="x")
    patterns = scope.patterns(fixture, ((root, root),), workdir=root)
    assert patterns[2:] == ("^@%./lib/", "^@lib/")  # lua_package_path './lib/?.lua' or 'lib/?.lua'
    found = scope.locate("@./lib/resty/m.lua", {}, ((root, root),), workdir=root)
    assert found is not None and found.key == f"{root}/lib/resty/m.lua"


def test_harness_t_and_run_pass_the_coverage_options_on_to_pytest():
    import argparse

    from harness.cli import add_coverage_options, coverage_args

    parser = argparse.ArgumentParser()
    add_coverage_options(parser)
    parser.add_argument("paths", nargs="*")
    assert coverage_args(parser.parse_args(["t/", "--harness-coverage"])) == ["--harness-coverage=on"]
    assert coverage_args(parser.parse_args(["--harness-coverage=lib,src", "--harness-coverage-min", "80", "t/"])) == [
        "--harness-coverage=lib,src", "--harness-coverage-min=80"]
    assert coverage_args(parser.parse_args(["t/"])) == []
