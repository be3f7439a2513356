"""`harness t --watch` end to end: the first run, then a saved `.t` file and a saved Lua module each
re-run the blocks on the warm containers, a faulty edit is caught and its fix passes again, and
Ctrl-C leaves nothing of the session on the engine."""
import pytest

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

        write_module(tmp_path, "wrong")  # a faulty edit of the Lua module: every block sees it
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
