from harness.soak import failed_tests, soak

JUNIT = """<?xml version="1.0"?><testsuites><testsuite>
<testcase classname="tests.a" name="test_ok"/>
<testcase classname="tests.a" name="test_bad"><failure message="x"/></testcase>
<testcase classname="tests.b" name="test_teardown"><error message="y"/></testcase>
</testsuite></testsuites>"""


def test_failed_tests_reads_failures_and_errors(tmp_path):
    (tmp_path / "r.xml").write_text(JUNIT)
    assert failed_tests(tmp_path / "r.xml") == ["tests.a::test_bad", "tests.b::test_teardown"]
    assert failed_tests(tmp_path / "missing.xml") == ["<the run produced no report>"]


def test_soak_counts_failures_over_runs(pytester):
    pytester.makepyfile(test_flaky="""
import os, pathlib

def test_fails_on_the_first_run_only():
    marker = pathlib.Path(os.environ["SOAK_MARKER"])
    first = not marker.exists()
    marker.write_text("seen")
    assert not first

def test_always_fine():
    assert True
""")
    import os
    os.environ["SOAK_MARKER"] = str(pytester.path / "marker")
    try:
        lines: list[str] = []
        failures = soak(3, [str(pytester.path)], pytester.path / "reports", log=lines.append)
    finally:
        del os.environ["SOAK_MARKER"]
    assert failures == {"test_flaky::test_fails_on_the_first_run_only": 1}
    assert len(lines) == 3 and lines[0].startswith("run 1/3: ")
