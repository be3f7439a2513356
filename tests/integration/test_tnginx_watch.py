"""`harness t --watch` end to end: the first run, then a saved `.t` file and a saved Lua module each
re-run the blocks on the warm containers, a faulty edit is caught and its fix passes again, Ctrl-C
leaves nothing of the session on the engine, and what a killed watch left is swept."""
import re
from pathlib import Path

import pytest

from harness.tnginx.collect import file_blocks
from harness.session import sweep_stale
from harness.tnginx.load import load_tfile
from tests.integration.children import leftovers
from tests.integration.watching import WatchChild, module_suite, write_module

pytestmark = pytest.mark.integration
FIRST_RUN = 240  # seconds: the first containers may start on a busy machine
ROUND = 60  # seconds for one round after a save (under a second on a quiet machine: bench/tnginx_watch.py)


def next_round(child: WatchChild, after: int) -> tuple[int, str]:
    index, _, line = child.wait_line(r"^round \d+ \(", ROUND, after)
    return index + 1, line


def test_watch_reruns_on_save_catches_a_faulty_edit_and_cleans_up_on_ctrl_c(harness_stage, tmp_path):
    tfile = module_suite(tmp_path, blocks=2)
    child = WatchChild(tmp_path, "t/", "--reports", str(tmp_path / "reports"))
    try:
        session = child.session
        at, _, line = child.wait_line(r"^round 1 \(first run\)", FIRST_RUN)
        assert "2 passed, 0 failed" in line, child.output()
        at, _, _ = child.wait_line(r"^watching \d+ director", 10, at)  # the watcher runs: saves are seen

        text = tfile.read_text()  # a faulty edit of the .t file: TEST 2 now expects another answer
        tfile.write_text(text.replace("--- response_body\nanswer 2\n", "--- response_body\nanswer 22\n"))
        at, line = next_round(child, at)
        assert "t/module.t changed" in line and "1 passed, 1 failed" in line, child.output()
        assert "response_body 'answer 2\\n', expected 'answer 22\\n'" in child.output()

        tfile.write_text(text)  # its fix
        at, line = next_round(child, at)
        assert "2 passed, 0 failed" in line, child.output()

        tfile.write_text(text.replace("run_tests();", ""))  # a file perl reads but that hands over no block
        at, line = next_round(child, at)
        assert "0 passed, 1 failed" in line and "t/module.t .. FAILED  perl:" in child.output(), child.output()
        tfile.write_text(text)
        at, line = next_round(child, at)
        assert "2 passed, 0 failed" in line, child.output()

        write_module(tmp_path, "wrong")  # a faulty edit of the Lua module: every block sees it, the one that
        # requires it in the master's init_by_lua (TEST 1) too: a HUP gives the master a new Lua VM
        at, line = next_round(child, at)
        assert "lib/demo/answer.lua changed" in line and "0 passed, 2 failed" in line, child.output()

        write_module(tmp_path, "answer", note="fixed")  # its fix: the module is loaded afresh again
        at, line = next_round(child, at)
        assert "2 passed, 0 failed" in line, child.output()

        assert child.interrupt() == 0, child.output()  # Ctrl-C: the last round passed
        assert "stopping, removing the session's containers" in child.output()
        assert leftovers(harness_stage.engine, f"harness.session={session}") == [], child.output()
    finally:
        child.kill()


def test_watch_gives_every_block_the_verdict_of_a_run(harness_stage, tmp_path):
    """The suite of every supported section under --watch: no block fails (as under `harness t` and
    pytest, which `make test` runs on it too), and only blocks that skip by their own sections skip."""
    sections = Path(__file__).resolve().parent.parent / "tnginx" / "t" / "sections.t"
    blocks = file_blocks(load_tfile(sections))
    child = WatchChild(tmp_path, str(sections), "--reports", str(tmp_path / "reports"))
    try:
        _, _, line = child.wait_line(r"^round 1 \(first run\)", FIRST_RUN)
        passed, failed, skipped = map(int, re.findall(r"(\d+) (?:passed|failed|skipped)", line))
        assert failed == 0 and passed + skipped == len(blocks), child.output()
        skips = [ln for ln in child.output().splitlines() if ln.startswith("  skip")]
        assert len(skips) == skipped and all(re.search(r"\((skip_nginx|skip_eval|--- SKIP)", ln) for ln in skips), skips
        assert child.interrupt() == 0, child.output()
    finally:
        child.kill()


def test_a_killed_watch_leaves_only_what_the_next_run_sweeps(harness_stage, tmp_path):
    """SIGKILL gives the watch no chance to clean up: everything it made carries its session and its
    pid, so the next run's sweep (any harness run starts with it) removes all of it."""
    module_suite(tmp_path, blocks=1)
    child = WatchChild(tmp_path, "t/", "--reports", str(tmp_path / "reports"))
    try:
        session = child.session
        child.wait_line(r"^watching \d+ director", FIRST_RUN)
        label = f"harness.session={session}"
        assert leftovers(harness_stage.engine, label), "the watch's containers run while it watches"
    finally:
        child.kill()
    sweep_stale(harness_stage.engine)
    assert leftovers(harness_stage.engine, label) == []
