"""Matrix runs on the two offline twins (bookworm: ngx_lua 0.10.23, trixie: 0.10.28), through
`harness t` and through pytest: a block or test that needs the newer ngx_lua is listed as differing,
with its failing check and the error.log line that explains it; one that passes on both is the same.
The bookworm twin is built by `make setup`, else by the first of these tests (twin:NAME builds on
first use)."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
T_FILE = Path(__file__).resolve().parent.parent / "tnginx" / "matrix" / "ngx_lua_versions.t"
TWINS = ("twin:bookworm", "twin:trixie")
NEW_ONLY = "attempt to call field 'decode_base64mime' (a nil value)"  # what ngx_lua 0.10.23 says


def harness_t_matrix(reports: Path, *options: str) -> subprocess.CompletedProcess:
    images = [word for image in TWINS for word in ("--image", image)]
    return subprocess.run([sys.executable, "-m", "harness.cli", "t", str(T_FILE), *images, "--reports", str(reports),
                           *options], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def t_matrix(harness_stage, tmp_path_factory):
    reports = tmp_path_factory.mktemp("matrix")
    return harness_t_matrix(reports), reports / "matrix"


def test_a_block_needing_the_newer_ngx_lua_differs_with_its_reason(t_matrix):
    proc, reports = t_matrix
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # passes on one twin, fails on the other
    data = json.loads((reports / "matrix.json").read_text())
    tests = {t["test"].split("::")[1].split(":")[0]: t for t in data["tests"]}
    new_only, everywhere = tests["TEST 2"], tests["TEST 1"]
    assert new_only["conflict"] and new_only["differs"]
    assert new_only["verdicts"]["twin:trixie"]["outcome"] == "passed"
    bookworm = new_only["verdicts"]["twin:bookworm"]
    assert bookworm["outcome"] == "failed"
    assert bookworm["check"] == "request 1: status 500, expected 200"
    assert any(NEW_ONLY in line and "[error]" in line for line in bookworm["log"]), bookworm
    assert not everywhere["differs"] and {v["outcome"] for v in everywhere["verdicts"].values()} == {"passed"}
    assert [t["test"] for t in data["tests"]][0] == new_only["test"]  # the differing blocks come first
    # the printed table says the same, and which ngx_lua each image has
    assert "differing (1):" in out and "on twin:bookworm: request 1: status 500, expected 200" in out
    assert NEW_ONLY in out
    versions = {image["label"]: image["components"] for image in data["images"]}
    assert versions["twin:bookworm"]["lua-nginx-module"] == "0.10.23"
    assert versions["twin:trixie"]["lua-nginx-module"] == "0.10.28"


def test_the_matrix_junit_has_one_suite_per_image(t_matrix):
    _, reports = t_matrix
    suites = ET.parse(reports / "matrix.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == list(TWINS)
    failures = {s.get("name"): [c.get("name") for c in s.iter("testcase") if c.find("failure") is not None]
                for s in suites}
    assert failures["twin:trixie"] == [] and len(failures["twin:bookworm"]) == 1
    assert failures["twin:bookworm"][0].startswith("TEST 2:")
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["harness.matrix.lua-nginx-module"] == "0.10.23"


PYTEST_FILE = """
def test_decode_base64_everywhere(openresty):
    nginx = openresty.inline("location = /t { content_by_lua_block { ngx.say(ngx.decode_base64('aGFybmVzcw==')) } }")
    with nginx.client() as client:
        assert client.get("/t").text == "harness\\n"


def test_decode_base64mime_needs_newer_ngx_lua(openresty):
    nginx = openresty.inline("location = /t { content_by_lua_block { ngx.say(ngx.decode_base64mime('aGFy\\\\nbmVzcw==')) } }")
    with nginx.client() as client:
        status = client.get("/t").status_code
    assert status == 200, f"/t answered {status}"
"""


def test_pytest_matrix_parametrizes_per_image_and_lists_the_difference(pytester, harness_stage):
    pytester.makepyfile(test_versions=PYTEST_FILE)
    images = [word for image in TWINS for word in ("--openresty-image", image)]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *images,
                                           f"--harness-reports-dir={pytester.path / 'reports'}")
    # the newer-only test fails on bookworm alone, and its error.log teardown check fails there too
    result.stdout.fnmatch_lines(["*test_decode_base64_everywhere?twin:bookworm? PASSED*",
                                 "*test_decode_base64_everywhere?twin:trixie? PASSED*",
                                 "*test_decode_base64mime_needs_newer_ngx_lua?twin:trixie? PASSED*",
                                 "*compatibility matrix: 1 test(s) differ*"])
    assert result.ret == 1
    data = json.loads((pytester.path / "reports" / "matrix.json").read_text())
    rows = {t["test"].split("::")[1]: t for t in data["tests"]}
    assert set(rows) == {"test_decode_base64_everywhere", "test_decode_base64mime_needs_newer_ngx_lua"}
    new_only = rows["test_decode_base64mime_needs_newer_ngx_lua"]
    assert new_only["conflict"] and not rows["test_decode_base64_everywhere"]["differs"]
    bookworm = new_only["verdicts"]["twin:bookworm"]
    assert "/t answered 500" in bookworm["check"]
    assert any(NEW_ONLY in line for line in bookworm["log"]), bookworm
    assert [s.get("name") for s in ET.parse(pytester.path / "reports" / "matrix.xml").getroot()] == list(TWINS)


def test_harness_run_matrix_runs_the_scenarios_on_each_image(harness_stage, tmp_path):
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "catalogue" / "13-lua-runtime-errors.scenario.yaml"
    images = [word for image in TWINS for word in ("--image", image)]
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), *images, "--reports",
                           str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "matrix" / "matrix.json").read_text())
    assert [i["label"] for i in data["images"]] == list(TWINS) and [i["passed"] for i in data["images"]] == [2, 2]
    assert len(data["tests"]) == 2 and not any(t["differs"] for t in data["tests"])
    assert "differing: none" in proc.stdout and "catalogue/13-lua-runtime-errors.scenario.yaml::" in proc.stdout
