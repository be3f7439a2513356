"""Lua line coverage (--harness-coverage): the lines of a module of our own that ran, counted by
hand, whichever worker ran them (two per container, a log phase, workers retired by a HUP, a worker
killed), with LuaJIT's JIT on; the reports `harness t` writes (LCOV that `lcov --summary` reads,
the HTML page, the minimum)."""
import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.coverage.lcov import parse_lcov
from harness.nginx_conf import COVERAGE_DIR, Fixture
from harness.stage import Stage
from harness.waiting import wait_for

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent.parent / "coverage_fixture"
APP = HERE / "app"
MODULE = APP / "lua" / "covme.lua"
SUITE = HERE / "suite"


def lines_of(path: Path, *texts: str) -> set[int]:
    """The numbers of the lines of ``path`` that contain one of ``texts``."""
    return {n for n, line in enumerate(path.read_text().splitlines(), start=1) if any(t in line for t in texts)}


def test_every_workers_lines_count_log_phase_hup_retired_and_killed_workers_included(harness_stage, tmp_path):
    settings = dataclasses.replace(harness_stage.settings, coverage="on")
    stage = Stage(harness_stage.engine, settings, session=harness_stage.session)
    try:
        app = Fixture.load(APP)
        nginx = stage.openresty(app, workers=2)
        with nginx.client() as client:
            assert client.get("/greet?name=x").text == "hello x\n"
            assert client.get("/logged").text == "ok\n"
            assert client.get("/hot").text == "500500\n"  # add() 1000 times in a loop LuaJIT compiles
        container = nginx.get_container_id()
        stage.release(nginx)
        # the same container HUPed into another config: its first workers retire at once
        # (whose master compiles sum()'s loop in init_by_lua_file, where the harness sets no hook)
        reloaded = app.with_snippets(server_conf=app.snippets["server.conf"] + """
location = /reloaded { content_by_lua_block { ngx.say(require("covme").after_reload()) } }""",
                                     http_conf="init_by_lua_file ${FIXTURE_DIR}/warm.lua;")
        nginx = stage.openresty(reloaded, workers=2)
        assert nginx.get_container_id() == container and nginx.generation == 2
        with nginx.client() as client:
            assert client.get("/reloaded").text == "reloaded\n"
            assert client.get("/sum").text == "500500\n"
            pid = client.get("/crash").text.split()[-1]
        # the periodic write reaches the file, then the worker is killed: what it wrote stays
        wait_for(lambda: re.search(r"^31 1$", nginx.sh(f"cat {COVERAGE_DIR}/{pid}-*.hits")[1], re.M),
                 timeout=5, what=f"worker {pid} to write its counts")
        assert nginx.sh(f"kill -9 {pid}")[0] == 0
        stage.release(nginx)
    finally:
        stage.close()
    result = stage.coverage.write(tmp_path)
    (module,) = result.files
    assert module.path == str(MODULE)
    # counted by hand in tests/coverage_fixture/app/lua/covme.lua: the lines that hold code are its
    # statements and each function's `end` (where its closure is made, when the module loads)
    assert module.missed == [6, 13, 23]  # greet's "nobody", logged's error branch, never()
    assert module.covered == [2, 4, 5, 8, 9, 11, 12, 15, 16, 18, 19, 20, 22, 24, 26, 27, 28, 30, 31, 32, 34, 35, 36,
                              37, 39, 40, 42]
    # 15: only in log_by_lua; 27: only after the HUP; 31: only in the killed worker
    assert module.counts[19] == 1000  # add() from a loop LuaJIT compiles: no trace swallowed a line
    # sum()'s loop: 1000 times in the first master's init_by_lua_block (each of its two workers inherits
    # those counts; written once), 1000 times for /sum in a worker of the second, whose master had
    # compiled the loop unhooked (init_by_lua_file: not counted)
    assert module.counts[37] == 2000
    assert result.summary() == "Lua line coverage: 90.0% (27 of 30 lines in 1 file(s))"


def harness_t(reports: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "t", str(SUITE / "t"), "--reports", str(reports),
                           *options], capture_output=True, text=True, timeout=600, cwd=SUITE)


def test_harness_t_covers_the_suites_lib_with_lcov_html_and_a_minimum(harness_stage, tmp_path):
    proc = harness_t(tmp_path, "--harness-coverage", "--harness-coverage-min", "95")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # every block passed, but 13 of 14 lines is below 95 %
    assert "3 passed" in out and "below --harness-coverage-min 95%" in out
    assert "Lua line coverage: 92.9% (13 of 14 lines in 1 file(s))" in out.splitlines()
    library = SUITE / "lib" / "covsuite.lua"
    lcov = tmp_path / "coverage" / "lcov.info"
    counted = parse_lcov(lcov.read_text())
    assert list(counted) == [str(library)]
    missed = {line for line, count in counted[str(library)].items() if count == 0}
    assert missed == lines_of(library, 'return "never run"')
    # the content phase, the log phase, the block's own init_worker_by_lua
    assert lines_of(library, 'return "hello, "', "return status", "return true") <= set(counted[str(library)]) - missed
    assert shutil.which("lcov"), "Debian's lcov is missing: make setup installs it (make test-tools)"
    summary = subprocess.run(["lcov", "--summary", str(lcov)], capture_output=True, text=True, timeout=60)
    assert summary.returncode == 0 and "lines......: 92.9% (13 of 14 lines)" in summary.stdout + summary.stderr
    page = (tmp_path / "coverage" / "index.html").read_text()
    assert re.search(rf'<tr class="file"><td><a href="#f0">{re.escape(str(library))}</a></td>'
                     r'<td class="num pct">92\.9%</td>', page)
    (never,) = lines_of(library, 'return "never run"')
    assert f'<tr class="miss" id="L{never}"><td class="count">0</td>' in page
    assert re.search(r'<tr class="hit" id="L6"><td class="count">1</td><td class="count">6</td><td>\s+return '
                     r'&quot;hello, &quot;', page)
    (annotated,) = (tmp_path / "coverage" / "genhtml").rglob("covsuite.lua.gcov.html")  # genhtml's page
    assert "92.9 %" in annotated.read_text() and "never run" in annotated.read_text()

    again = harness_t(tmp_path / "again", "--harness-coverage=lib", "--harness-coverage-min", "90")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Lua line coverage: 92.9% (13 of 14 lines in 1 file(s))" in again.stdout


def test_code_lines_of_a_file_no_container_ran_are_found_by_the_images_luajit(harness_stage, tmp_path):
    from harness.coverage.run import CoverageRun
    from harness.coverage.scope import CoverageScope

    run = CoverageRun(CoverageScope("on", tmp_path))
    run.patterns(Fixture.load(APP), ())  # the app's lua/covme.lua is a file the run covers
    assert run.unmeasured == 1
    harness_stage.measure_coverage(run)  # a short-lived container of the session's OpenResty image
    assert run.unmeasured == 0
    (module,) = run.result(tmp_path).files
    assert sorted(module.executable) == [2, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 18, 19, 20, 22, 23, 24, 26, 27, 28, 30,
                                         31, 32, 34, 35, 36, 37, 39, 40, 42]
    assert module.counts == {} and module.error == ""
