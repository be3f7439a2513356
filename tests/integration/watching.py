"""``harness t --watch`` in a child process, for its integration test and bench/tnginx_watch.py: a
suite of our own whose blocks answer through a Lua module, and the child's output read line by line
(each line stamped as it arrives) and waited on with deadlines."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

MODULE = """local _M = {{}}

-- {note}
function _M.answer(n)
    return "{word} " .. n
end

return _M
"""


def module_suite(directory: Path, blocks: int) -> Path:
    """``directory/t/module.t``: ``blocks`` blocks, block N answers ``answer N`` through the suite's
    ``lib/demo/answer.lua`` (``./lib/?.lua``: nginx runs in the suite's root), which block 1 requires in
    the master's ``init_by_lua``, the others in a worker. The directory is made readable for nginx's
    workers, which are not root (pytest's ``tmp_path`` is private)."""
    directory.chmod(0o755)
    parts = ["use Test::Nginx::Socket::Lua;", "", "repeat_each(1);", "plan tests => repeat_each() * blocks() * 3;",
             "no_shuffle();", "run_tests();", "", "__DATA__", ""]
    for n in range(1, blocks + 1):
        # block 1 requires the module in the master (init_by_lua), the others in a worker
        init = ['    init_by_lua_block { demo = require("demo.answer") }'] if n == 1 else []
        call = "demo" if n == 1 else 'require("demo.answer")'
        parts += [f"=== TEST {n}: answer {n}", "--- http_config", '    lua_package_path "./lib/?.lua;;";', *init,
                  "--- config", "    location = /t {", f"        content_by_lua_block {{ ngx.say({call}.answer({n})) }}",
                  "    }", "--- request", "GET /t", "--- response_body", f"answer {n}", "--- no_error_log", "[error]", ""]
    path = directory / "t" / "module.t"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    write_module(directory, "answer")
    return path


def write_module(directory: Path, word: str, note: str = "the blocks' answers") -> Path:
    """(Re)write the suite's Lua module: ``answer(n)`` returns ``WORD n``."""
    path = directory / "lib" / "demo" / "answer.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MODULE.format(word=word, note=note))
    return path


def answer_ctrl_c() -> None:
    """In the child, before it runs: SIGINT as a terminal gives it (a parent started in the background
    by a non-interactive shell ignores SIGINT, and its children would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class WatchChild:
    """``harness t --watch ARGS`` started in ``cwd``; :meth:`wait_line` waits for a line of its output."""

    def __init__(self, cwd: Path, *args: str, env: Optional[dict[str, str]] = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "t", "--watch", *args], cwd=cwd,
                                     env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, preexec_fn=answer_ctrl_c)
        self.lines: list[tuple[float, str]] = []  # (time.perf_counter() when read, line)
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def output(self) -> str:
        with self.changed:
            return "\n".join(line for _, line in self.lines)

    def wait_line(self, pattern: str, timeout: float, start: int = 0) -> tuple[int, float, str]:
        """The first line from index ``start`` on that matches ``pattern`` (a regex): its index, when it
        was read, the line. Fails (with the output so far) when the deadline passes or the child ends."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for index in range(start, len(self.lines)):
                    stamp, line = self.lines[index]
                    if regex.search(line):
                        return index, stamp, line
                start = len(self.lines)
                left = deadline - time.monotonic()
                ended = self.proc.poll() is not None and not self.reader.is_alive()
                if left <= 0 or ended:
                    why = f"exited {self.proc.returncode}" if ended else f"no such line within {timeout:g}s"
                    raise AssertionError(f"harness t --watch: {why} (waiting for /{pattern}/):\n"
                                         + "\n".join(line for _, line in self.lines))
                self.changed.wait(min(left, 0.5))

    @property
    def session(self) -> str:
        """The harness session id the child printed in its header."""
        return self.wait_line(r"^harness session: \w+", 120)[2].split()[2].rstrip(";")

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C: SIGINT, then its exit code (killed if it does not end within ``timeout``)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
