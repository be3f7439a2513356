"""The compatibility matrix without Docker: verdicts from JUnit, differences, table, JSON, JUnit per
image, exit codes, the pytest recorder, and MatrixRun on child processes that only write reports."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.matrix import (ImageRun, Matrix, MatrixRecorder, MatrixRun, Verdict, check_images, explaining_lines,
                            facts_from_record, first_check, matrix_key, parse_images, verdicts_from_junit)

LOG = """2026/12/04 19:16:54 [debug] 18#18: *2 http script var
2026/12/04 19:16:54 [error] 18#18: *2 lua entry thread aborted: runtime error: attempt to call field 'x' (a nil value)
2026/12/04 19:16:54 [info] 18#18: *2 client closed"""

T_FAILURE = """ngx_lua_versions.t::TEST 2: new api: FAILED
  - request 1: status 500, expected 200
  - request 1: response_body '', expected 'harness\\n'"""

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
 <testcase classname="t.a.t" name="TEST 1: old api" time="0.1"/>
 <testcase classname="t.a.t" name="TEST 2: new api" time="0.1">
  <properties><property name="harness: error.log (this block)" value="{log}"/></properties>
  <failure message="x">{failure}</failure>
 </testcase>
 <testcase classname="t.a.t" name="TEST 3: skipped" time="0"><skipped message="no"/></testcase>
 <testcase classname="t.a.t" name="TEST 4: teardown" time="0.1"/>
 <testcase classname="t.a.t" name="TEST 4: teardown" time="0.1"><error message="teardown">E   boom</error></testcase>
</testsuite></testsuites>
"""


def junit_text(failure: str = T_FAILURE) -> str:
    from xml.sax.saxutils import escape, quoteattr

    return JUNIT.replace('"{log}"', quoteattr(LOG)).replace("{failure}", escape(failure))


def test_first_check_takes_a_t_blocks_first_failure_or_an_assertion():
    assert first_check(T_FAILURE) == "request 1: status 500, expected 200"
    assert first_check("def test():\n>       assert x\nE       AssertionError: /t answered 500\nE       assert 500 == 200") \
        == "AssertionError: /t answered 500"
    assert first_check("harness error: no image") == "harness error: no image"
    assert first_check("") == ""


def test_explaining_lines_keep_warn_and_worse_only():
    assert explaining_lines(LOG) == (LOG.splitlines()[1],)
    assert explaining_lines("\n".join(f"line {n} [info]" for n in range(10))) == ()
    assert len(explaining_lines("\n".join(f"line {n} [warn]" for n in range(10)))) == 4


def test_verdicts_from_junit(tmp_path):
    path = tmp_path / "t.xml"
    path.write_text(junit_text())
    verdicts = verdicts_from_junit(path)
    assert verdicts["t.a.t::TEST 1: old api"] == Verdict("passed")
    assert verdicts["t.a.t::TEST 3: skipped"] == Verdict("skipped")
    new = verdicts["t.a.t::TEST 2: new api"]
    assert new.outcome == "failed" and new.check == "request 1: status 500, expected 200"
    assert new.log == (LOG.splitlines()[1],)
    assert verdicts["t.a.t::TEST 4: teardown"] == Verdict("failed", "boom")  # a failing teardown fails the test


def run(label, components=None, **verdicts):
    return ImageRun(label, {k.replace("_", " "): v for k, v in verdicts.items()}, components or {})


OK, FAIL, SKIP = Verdict("passed"), Verdict("failed", "status 500, expected 200", ("[error] nil field",)), \
    Verdict("skipped")


def matrix() -> Matrix:
    return Matrix([run("old", {"lua-nginx-module": "0.10.23", "lua-cjson": "2.1.0"}, a=OK, b=FAIL, c=FAIL, d=OK),
                   run("new", {"lua-nginx-module": "0.10.28", "lua-cjson": "2.1.0"}, a=OK, b=OK, c=FAIL, d=SKIP)])


def test_rows_put_the_differing_tests_first():
    rows = matrix().rows()
    assert [r.test for r in rows] == ["b", "d", "a", "c"]
    assert [(r.differs, r.conflict) for r in rows] == [(True, True), (True, False), (False, False), (False, False)]
    assert rows[0].failing() == [(0, FAIL)]


def test_a_test_run_on_one_image_only_differs():
    m = Matrix([run("old", a=OK), run("new", a=OK, b=OK)])
    assert [r.test for r in m.differences()] == ["b"] and not m.differences()[0].conflict


def test_exit_codes():
    assert matrix().exit_code() == 1
    assert matrix().exit_code(allow_diff=True) == 1  # c fails on every image: a plain failure
    only_diff = Matrix([run("old", a=OK, b=FAIL), run("new", a=OK, b=OK)])
    assert only_diff.exit_code() == 1 and only_diff.exit_code(allow_diff=True) == 0
    assert Matrix([run("old", a=OK), run("new", a=OK)]).exit_code() == 0
    broken = ImageRun("new", exit_code=2, error="harness: no such image")
    assert Matrix([run("old", a=OK), broken]).exit_code(allow_diff=True) == 2


def test_table_lists_differences_with_reasons_then_the_grid_and_components():
    text = matrix().table()
    assert text.index("differing (2):") < text.index("  b: old FAIL, new ok") < text.index("  d: old ok, new skip")
    assert "    on old: status 500, expected 200\n      error.log: [error] nil field" in text
    quiet = Matrix([run("old", a=Verdict("failed", "body differs")), run("new", a=OK)]).table()
    assert "    on old: body differs\n      error.log: nothing at [warn] or worse" in quiet
    grid = text[text.index("test "):]
    assert grid.index("b ") < grid.index("DIFFERS") < grid.index("same")
    assert "lua-nginx-module  0.10.23  0.10.28  differs" in text
    assert "lua-cjson" not in text and "(1 more components with the same version on every image" in text


def test_json_and_junit_per_image(tmp_path):
    m = matrix()
    paths = m.write(tmp_path)
    assert [p.name for p in paths] == ["matrix.txt", "matrix.json", "matrix.xml"]
    data = json.loads(paths[1].read_text())
    assert [i["label"] for i in data["images"]] == ["old", "new"] and data["images"][0]["failed"] == 2
    assert data["tests"][0] == {"test": "b", "differs": True, "conflict": True,
                                "verdicts": {"old": {"outcome": "failed", "check": FAIL.check, "log": list(FAIL.log)},
                                             "new": {"outcome": "passed", "check": "", "log": []}}}
    suites = ET.parse(paths[2]).getroot().findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("skipped")) for s in suites] == \
        [("old", "4", "2", "0"), ("new", "4", "1", "1")]
    failure = suites[0].find("testcase[@name='b']/failure")
    assert failure is not None and failure.get("message") == FAIL.check and "[error] nil field" in failure.text
    props = {p.get("name"): p.get("value") for p in suites[1].iter("property")}
    assert props["harness.matrix.lua-nginx-module"] == "0.10.28"


def test_the_recorder_keeps_the_worst_phase_and_its_first_failure():
    rec = MatrixRecorder(["old", "new"])
    assert not rec
    rec.add("t.py::f", "old", "passed")                         # setup
    rec.add("t.py::f", "old", "failed", "E   AssertionError: first", LOG)  # call
    rec.add("t.py::f", "old", "failed", "E   second")          # teardown
    rec.add("t.py::f", "new", "passed")
    rec.add("t.py::g", "new", "skipped")
    m = rec.matrix({"old": ("nginx/1.22.1", {"nginx": "1.22.1"})})
    assert m.runs[0].verdicts["t.py::f"] == Verdict("failed", "AssertionError: first", (LOG.splitlines()[1],))
    assert m.runs[0].summary == "nginx/1.22.1" and m.runs[1].summary == ""
    assert [r.test for r in m.differences()] == ["t.py::f", "t.py::g"]


def test_display_names_cut_junits_directories():
    from harness.matrix import display

    assert display("t.100-pureffi.001-sanity.t::TEST 4: ttl") == "t/100-pureffi/001-sanity.t::TEST 4: ttl"
    assert display("scenarios.catalogue.13-lua.scenario.yaml::name") == "scenarios/catalogue/13-lua.scenario.yaml::name"
    assert display("tests/test_x.py::test_y") == "tests/test_x.py::test_y"


def test_matrix_key_and_image_lists():
    assert matrix_key("t.py::f[twin:bookworm]", "twin:bookworm") == "t.py::f"
    assert matrix_key("t.py::f[1-twin:bookworm]", "twin:bookworm") == "t.py::f[1]"
    assert matrix_key("t.py::f[twin:bookworm-1]", "twin:bookworm") == "t.py::f[1]"
    assert parse_images(" twin:bookworm,, twin:trixie ,twin:bookworm") == ["twin:bookworm", "twin:trixie"]
    assert check_images(["twin:bookworm", "img:1", "img:1"]) == ["twin:bookworm", "img:1"]
    with pytest.raises(HarnessError, match="unknown twin 'twin:buster': give one of twin:trixie, twin:bookworm"):
        check_images(["twin:buster", "twin:trixie"])
    with pytest.raises(HarnessError, match="repeat --image"):
        check_images(["twin:trixie", "twin:trixie"])


def test_facts_from_a_run_record():
    record = {"images": {"openresty": {
        "ref": "openresty-harness/openresty:bookworm-1", "source": "offline build", "luajit": "LuaJIT 2.1.0-beta3 -- x",
        "version": "nginx version: nginx/1.22.1\nbuilt by gcc",
        "components": {"lua-nginx-module": {"present": True, "version": "0.10.23"},
                       "stream": {"present": False}, "ndk": {"present": True, "version": ""}}}}}
    summary, components = facts_from_record(record)
    assert summary == "nginx/1.22.1, ngx_lua 0.10.23, LuaJIT 2.1.0-beta3 -- openresty-harness/openresty:bookworm-1 " \
                      "(offline build)"
    assert components == {"lua-nginx-module": "0.10.23", "stream": "missing", "ndk": "present"}
    assert facts_from_record({}) == ("", {})


CHILD = """
import json, sys, time
from pathlib import Path
image, where = sys.argv[1], Path(sys.argv[2])
began = time.time()
time.sleep(1.0)
(where / "span").write_text(f"{began} {time.time()}")
if image == "broken":
    print("harness: no such image"); sys.exit(2)
failing = '<failure message="m">- status 500, expected 200</failure>' if image == "old" else ""
(where / "t.xml").write_text('<testsuites><testsuite><testcase classname="a.t" name="TEST 1"/>'
                             f'<testcase classname="a.t" name="TEST 2">{failing}</testcase></testsuite></testsuites>')
(where / "run.json").write_text(json.dumps({"images": {"openresty": {"ref": image, "source": "s", "version": "nginx/1",
    "components": {"lua-nginx-module": {"present": True, "version": image}}}}}))
sys.exit(1 if failing else 0)
"""


def test_matrix_run_runs_one_child_per_image_side_by_side(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run = MatrixRun(["old", "new", "broken"], lambda image, where: [sys.executable, str(script), image, str(where)],
                    tmp_path / "matrix", "t.xml")
    m = run.run()
    spans = [[float(t) for t in (tmp_path / "matrix" / d / "span").read_text().split()] for d in ("old", "new", "broken")]
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # all three ran at once
    assert [r.label for r in m.runs] == ["old", "new", "broken"]
    assert [r.exit_code for r in m.runs] == [1, 0, 2]
    assert m.runs[0].verdicts["a.t::TEST 2"].check == "status 500, expected 200"
    assert m.runs[1].components == {"lua-nginx-module": "new"}
    assert m.runs[2].error == "harness: no such image" and m.exit_code() == 2
    assert (tmp_path / "matrix" / "broken" / "output.txt").read_text().strip() == "harness: no such image"
    assert "run failed: harness: no such image" in m.table()


def test_pytest_images_twice_parametrize_each_harness_test(pytester):
    pytester.makepyfile(test_x="""
def test_uses_openresty(openresty): pass
def test_plain(): pass
""")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider",
                                "--openresty-image", "twin:bookworm", "--openresty-image", "img:2")
    result.stdout.fnmatch_lines(["test_x.py::test_uses_openresty[[]twin:bookworm[]]",
                                 "test_x.py::test_uses_openresty[[]img:2[]]", "test_x.py::test_plain"])


def test_pytest_matrix_marker_runs_a_test_on_its_images(pytester):
    pytester.makepyfile(test_x="""
import pytest

@pytest.mark.matrix("a:1", "b:2")
def test_marked(openresty): pass
def test_unmarked(openresty): pass
""")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["test_x.py::test_marked[[]a:1[]]", "test_x.py::test_marked[[]b:2[]]",
                                 "test_x.py::test_unmarked"])


CELLS = """
def test_same(harness_image): pass
def test_new_only(harness_image): assert harness_image != "old:1", "needs the new image"
"""


@pytest.fixture
def no_engine(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")  # the header finds no engine, fast
    return pytester


@pytest.mark.parametrize("allow, code", [("off", 1), ("on", 0)])
def test_pytest_matrix_table_and_allow_diff(no_engine, allow, code):
    pytester = no_engine
    pytester.makepyfile(test_x=CELLS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--harness-matrix", "old:1,new:2",
                                f"--harness-allow-diff={allow}")
    result.assert_outcomes(passed=3, failed=1)
    assert result.ret == code
    result.stdout.fnmatch_lines(["*compatibility matrix: 1 test(s) differ*",
                                 "  test_x.py::test_new_only: old:1 FAIL, new:2 ok",
                                 "    on old:1: AssertionError: needs the new image*"])
    data = json.loads((pytester.path / "reports" / "matrix.json").read_text())
    assert [t["test"] for t in data["tests"]] == ["test_x.py::test_new_only", "test_x.py::test_same"]


def test_pytest_allow_diff_keeps_a_failure_on_every_image(no_engine):
    pytester = no_engine
    pytester.makepyfile(test_x="def test_broken(harness_image): assert False")
    result = pytester.runpytest("-p", "no:cacheprovider", "--harness-matrix", "old:1,new:2", "--harness-allow-diff=on")
    assert result.ret == 1


@pytest.mark.parametrize("allow, code", [([], 1), (["--allow-diff"], 0)])
def test_harness_t_with_two_images_runs_a_child_per_image(tmp_path, monkeypatch, capsys, allow, code):
    from harness.cli import main

    seen = {}

    def fake_run(self):  # the children's own behaviour is tested above and in tests/integration/test_matrix.py
        seen["images"] = list(self.images)
        seen["argv"] = self.command("twin:bookworm", self.directory("twin:bookworm"))
        return Matrix([run("twin:bookworm", a=OK, b=FAIL), run("twin:trixie", a=OK, b=OK)])

    monkeypatch.setattr(MatrixRun, "run", fake_run)
    (tmp_path / "a.t").write_text("")
    reports = tmp_path / "reports"
    assert main(["t", str(tmp_path / "a.t"), "--image", "twin:bookworm", "--image", "twin:trixie", "-n", "2",
                 "--reports", str(reports), "--pytest=-x", *allow]) == code
    assert seen["images"] == ["twin:bookworm", "twin:trixie"]
    child = reports / "matrix" / "twin_bookworm"
    assert seen["argv"][1:] == ["-m", "harness.cli", "t", str(tmp_path / "a.t"), "--image", "twin:bookworm",
                                "--reports", str(child), "-n", "2", f"--pytest=--harness-reports-dir={child.resolve()}",
                                "--pytest=-x"]
    out = capsys.readouterr().out
    assert "differing (1):" in out and (reports / "matrix" / "matrix.xml").is_file()


def test_a_run_past_its_deadline_is_stopped_with_sigterm_first(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("""
import signal, sys, time
from pathlib import Path
where = Path(sys.argv[1])
def cleanup(*_):
    (where / "cleaned").write_text("yes")
    sys.exit(3)
signal.signal(signal.SIGTERM, cleanup)
(where / "ready").write_text("")
time.sleep(60)
""")
    run = MatrixRun(["a", "b"], lambda image, where: [sys.executable, str(script), str(where)],
                    tmp_path / "m", "t.xml", timeout=2.5)  # time enough to start, even on a busy machine
    m = run.run()
    assert [r.exit_code for r in m.runs] == [3, 3]
    assert all((tmp_path / "m" / d / "cleaned").read_text() == "yes" for d in ("a", "b"))
    assert all(r.seconds < 30 for r in m.runs)


def test_jobs_1_runs_the_images_one_after_the_other(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run = MatrixRun(["old", "new"], lambda image, where: [sys.executable, str(script), image, str(where)],
                    tmp_path / "matrix", "t.xml", jobs=1)
    m = run.run()
    (s1, e1), (s2, e2) = ([float(t) for t in (tmp_path / "matrix" / d / "span").read_text().split()]
                          for d in ("old", "new"))
    assert e1 <= s2 and [r.exit_code for r in m.runs] == [1, 0]


def test_the_recorder_finds_the_image_in_a_node_id():
    rec = MatrixRecorder(["twin:bookworm", "img:1", "img:10"])
    assert rec.image_of("t.py::f[twin:bookworm]") == "twin:bookworm"
    assert rec.image_of("t.py::f[3-img:10]") == "img:10" and rec.image_of("t.py::f[img:1-x]") == "img:1"
    assert rec.image_of("t.py::f[a-img:1-b]") == "img:1"
    assert rec.image_of("t.py::f") is None and rec.image_of("t.py::f[other]") is None


def test_a_marker_matrix_alone_gets_its_table(no_engine):
    pytester = no_engine
    pytester.makepyfile(test_x="""
import pytest

@pytest.mark.matrix("old:1", "new:2")
def test_marked(harness_image): assert harness_image == "new:2"
def test_plain(): pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*compatibility matrix: 1 test(s) differ*", "  test_x.py::test_marked: old:1 FAIL, new:2 ok"])


def test_a_misspelt_twin_is_a_one_line_error_before_anything_runs(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "a.t").write_text("")
    assert main(["t", str(tmp_path / "a.t"), "--image", "twin:sid", "--image", "twin:trixie",
                 "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err == "harness: unknown twin 'twin:sid': give one of twin:trixie, twin:bookworm or an image reference\n"
    assert not (tmp_path / "r" / "matrix").exists()
