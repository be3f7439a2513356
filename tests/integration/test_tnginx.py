"""`harness t` end to end: a faulty .t file fails with exit 1 and says why, per block; the
healthy suite (tests/tnginx/t/sections.t) is collected by `make test` itself."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent.parent / "tnginx"


def test_harness_t_reports_each_failed_block_and_exits_1(harness_stage, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(HERE / "faulty" / "broken.t"),
                           "--reports", str(tmp_path)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "response_body 'actual', expected 'expected'" in out
    assert "no_error_log: '[error]' found in:" in out and "boom" in out
    assert "0 passed, 2 failed, 0 skipped" in out
    assert (tmp_path / "t.xml").is_file()


def harness_t(path: Path, reports: Path, *options: str) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(path), "--reports", str(reports), *options],
                          capture_output=True, text=True, timeout=600)
    verdicts = json.loads((reports / "t.json").read_text())["blocks"] if (reports / "t.json").exists() else {}
    return proc.returncode, {k.split("::", 1)[1].split(":")[0]: v for k, v in verdicts.items()}, proc.stdout + proc.stderr


SERVICES = HERE / "faulty" / "services.t"


def test_services_blocks_pass_without_a_fault(harness_stage, tmp_path):
    code, verdicts, out = harness_t(SERVICES, tmp_path)
    assert code == 0 and verdicts == {f"TEST {n}": "passed" for n in (1, 2, 3, 4)}, out


@pytest.mark.parametrize("fault, failing", [
    ("redis.refusing", {"TEST 1", "TEST 3", "TEST 4"}),   # every block that talks to Redis
    ("proxy.latency:ms=100", {"TEST 1"}),                  # only the one with a 40 ms timeout
    ("dns.servfail", {"TEST 2"}),
])
def test_a_run_wide_fault_fails_the_blocks_that_depend_on_it(harness_stage, tmp_path, fault, failing):
    code, verdicts, out = harness_t(SERVICES, tmp_path, "--harness-fault", fault)
    assert code == 1, out
    assert {name for name, v in verdicts.items() if v == "failed"} == failing, out


def test_lanes_give_the_same_verdicts_and_run_blocks_ahead(harness_stage, tmp_path):
    """`harness t -n 3` on the suite of every supported section, and on the Redis blocks (each runs
    alone): the verdicts of a run one block at a time, with blocks started while others ran."""
    for path in (HERE / "t", SERVICES):
        one = tmp_path / f"{path.stem}-1"
        three = tmp_path / f"{path.stem}-3"
        code1, verdicts1, out1 = harness_t(path, one)
        code3, verdicts3, out3 = harness_t(path, three, "-n", "3")
        assert code3 == code1 == 0 and verdicts3 == verdicts1, out3
        report = json.loads((three / "t.json").read_text())
        assert report["lanes"] == 3 and "lanes: 3 (" in out3
        if path == SERVICES:  # TESTs 1, 3 and 4 name Redis: nothing starts beside or before them
            assert report["ran_ahead"] == 0, out3
        else:
            assert report["ran_ahead"] > 0, out3


def test_check_leak_fails_the_leaky_block_and_passes_its_twin(harness_stage, tmp_path):
    code, verdicts, out = harness_t(SERVICES, tmp_path, "--harness-check-leak")
    assert code == 1, out
    assert verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "failed", "TEST 4": "passed"}, out
    assert "leak check: " in out and "LEAK" in out


def run_on_a_stage_of_its_own(harness_stage, name: str, repeats: int = 1) -> list[tuple]:
    """Each block of tests/tnginx/generations/NAME on a new stage (its first block on a container
    started for it, later ones on that container, HUPed): (result, container, the error.log of the
    block's generation, the stage's observed identities at the end)."""
    from harness.stage import Stage
    from harness.tnginx.adapter import SuiteStage
    from harness.tnginx.block import build_block
    from harness.tnginx.load import load_tfile
    from harness.tnginx.runner import BlockRunner

    tfile = load_tfile(HERE / "generations" / name)
    out = []
    with Stage(harness_stage.engine, harness_stage.settings, session=harness_stage.session) as stage:
        used = []

        class Recording(SuiteStage):
            def release(self, nginx, reusable=True):
                used.append((nginx, nginx.generation_log_start))
                super().release(nginx, reusable)

        runner = BlockRunner(Recording(stage, tfile.root))
        for raw in tfile.blocks:
            block = build_block(raw, repeats=repeats, log_level="debug", workers=1, no_root_location=False,
                                env_to_nginx=[], label=f"{Path(name).stem}-{raw.number}",
                                use_hup=tfile.settings.get("use_hup") == "1")
            result = runner.run(block, repeats)
            nginx, start = used[-1]
            out.append((result, nginx, nginx.read_error_log(start, settle=2.0).text))
        observed = dict(stage.observed)  # what the image's workers reported, before the stage closes
    return [(*row, observed) for row in out]


def test_old_generations_lines_never_reach_the_next_block(harness_stage):
    (first, one, _, _), (second, two, raw, _) = run_on_a_stage_of_its_own(harness_stage, "bleed.t")
    assert first.verdict == "passed" and one is two  # one pooled container: the second block reloads it
    assert "old generation says goodbye, premature: true" in raw  # the old worker logged it in this window
    assert second.verdict == "passed", second.format()


def test_a_fresh_containers_first_request_finds_no_lua_thread_of_the_harness(harness_stage):
    """A quiet block's container is told ready without Lua (ngx_lua 002-content.t TEST 1 counts the
    worker's cached Lua threads); what only Lua reports (LuaJIT's version) is asked after its test."""
    (result, nginx, log, observed), = run_on_a_stage_of_its_own(harness_stage, "first-request.t", repeats=2)
    if "[debug]" not in log:
        pytest.skip(f"{nginx.resolved.ref}: nginx built without --with-debug logs no Lua thread cache")
    assert result.verdict == "passed", result.format()
    assert nginx.identity["jit"].startswith("LuaJIT") and nginx.identity["nginx"] >= 1019000
    assert observed[nginx.resolved.id]["ngx_lua"] >= 10000


def test_a_use_hup_block_sees_its_reload_and_its_twin_without_use_hup_does_not(harness_stage):
    (hup, _, _, _), = run_on_a_stage_of_its_own(harness_stage, "hup.t")
    assert hup.verdict == "passed", hup.format()
    (plain, _, _, _), = run_on_a_stage_of_its_own(harness_stage, "no-hup.t")
    assert plain.verdict == "failed" and any("SIGHUP" in f for f in plain.failures), plain.format()


def test_the_first_blocks_container_starts_while_pytest_collects(harness_stage):
    """The run-ahead, and the first block's container with it, exist once collection ends (perl
    reading the other files overlaps the start); --collect-only starts nothing."""
    from harness.tnginx.items import RUN_AHEAD

    class Probe:
        early = None

        def pytest_collection_finish(self, session):
            self.early = session.config.stash.get(RUN_AHEAD, None) is not None

    for extra, started in (([], True), (["--collect-only"], False)):
        probe = Probe()
        code = pytest.main([str(HERE / "t" / "sections.t"), "-q", "-p", "no:cacheprovider", *extra], plugins=[probe])
        assert code == 0 and probe.early is started
