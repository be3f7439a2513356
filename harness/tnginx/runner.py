"""Running one block on the harness: its OpenResty (a reused master switched by HUP, prepared
ahead when possible), ``repeat_each`` repetitions of its requests, then its checks on the answers
and on this repetition's error.log lines (see :mod:`harness.tnginx.logview`)."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from types import MappingProxyType
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Mapping, Optional

from harness.errors import HarnessError, NginxConfigError
from harness.tnginx.block import Expect, LogExpect, Pattern, TBlock, nginx_version_matches
from harness.tnginx.load import SIDE_LOG, SIDE_LOG_NAME, Regex
from harness.tnginx.logview import LogView, grep, matches
from harness.tnginx.perlcalls import Answering, PerlCalls
from harness.tnginx.reasons import missing_modules, of_failure, unsupported_sections
from harness.wire import Answer, Talker, exchange, talk

if TYPE_CHECKING:
    from harness.containers import CompanionContainer, OpenRestyContainer
    from harness.tnginx.adapter import SuiteStage

Verdict = Literal["passed", "failed", "skipped", "error"]
SETTLE = 2.0  # seconds the workers may take to get back to their event loops before log checks


@dataclass
class BlockResult:
    name: str
    verdict: Verdict = "passed"
    failures: list[str] = field(default_factory=list)
    reason: str = ""  # why skipped, or the harness error
    cause: str = ""  # why it did not run as under prove: "CLASS: detail" (harness.tnginx.reasons)
    error_log: str = ""  # the block's lines (on failure)
    workers: str = ""  # the worker table (on failure)
    seconds: float = 0.0
    leak: str = ""

    def fail(self, message: str) -> None:
        self.verdict = "failed"
        self.failures.append(message)

    def format(self) -> str:
        why = self.reason or self.cause
        lines = [f"{self.name}: {self.verdict.upper()}" + (f" ({why})" if why else "")]
        lines += [f"  - {f}" for f in self.failures]
        if self.leak:
            lines.append(f"  leak check: {self.leak}")
        return "\n".join(lines)


def _show(data: bytes, limit: int = 400) -> str:
    text = data.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _like(pattern: Pattern, text: str) -> bool:
    if isinstance(pattern, Regex):
        return pattern.compiled().search(text) is not None
    return Regex(str(pattern), "s").compiled().search(text) is not None


def check_answer(expect: Expect, answer: Answer, index: int, repetition: int) -> list[str]:
    """What differs between one answer and its expectation (Test::Nginx's meanings)."""
    where = f"request {index + 1}" + (f", repetition {repetition + 1}" if repetition else "")
    if answer.status is None:
        # Test::Nginx reads the status of no answer as "": an empty error_code, or an error_code_like
        # that matches "", takes it, and the other checks run on the empty answer
        if not (expect.no_response or (isinstance(expect.status, Regex) and expect.status.compiled().search(""))):
            return [f"{where}: no response ({answer.error or 'closed'})"]
        out = []
    else:
        out = [f"{where}: {answer.error}"] if answer.error else []  # chunks that do not add up
        if isinstance(expect.status, Regex):
            if not expect.status.compiled().search(str(answer.status)):
                out.append(f"{where}: status {answer.status} does not match /{expect.status.pattern}/")
        elif expect.status is not None and answer.status != expect.status:
            out.append(f"{where}: status {answer.status}, expected {expect.status}")
    body = answer.body.decode("utf-8", "replace")
    if expect.body is not None and answer.body != expect.body:
        out.append(f"{where}: response_body {_show(answer.body)}, expected {_show(expect.body)}")
    if expect.body_like is not None and not _like(expect.body_like, body):
        out.append(f"{where}: response_body {_show(answer.body)} does not match {expect.body_like!r}")
    if expect.body_unlike is not None and _like(expect.body_unlike, body):
        out.append(f"{where}: response_body {_show(answer.body)} matches {expect.body_unlike!r}")
    for name, value in expect.headers:
        got = answer.header(name)
        if value is None and got is not None:
            out.append(f"{where}: header {name} is {got!r}, expected absent")
        elif value is not None and (got or "") != value:
            out.append(f"{where}: header {name} is {got!r}, expected {value!r}")
    for name, pattern in expect.headers_like:
        got = answer.header(name)
        if got is None or not pattern.compiled().search(got):
            out.append(f"{where}: header {name} is {got!r}, expected like /{pattern.pattern}/")
    if expect.raw_headers_like is not None and not _like(expect.raw_headers_like, answer.raw_headers):
        out.append(f"{where}: raw headers do not match {expect.raw_headers_like!r}")
    if expect.raw_headers_unlike is not None and _like(expect.raw_headers_unlike, answer.raw_headers):
        out.append(f"{where}: raw headers match {expect.raw_headers_unlike!r}")
    return out


PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def filled(pattern: Pattern, values: Mapping[str, str]) -> Pattern:
    """A string pattern with the ``${NAME}`` placeholders the shim put for ``TEST_NGINX_*`` service
    variables replaced by the values the container's config got (Test::Nginx's expectations hold the
    numbers: ``...pool for key "127.0.0.1:11211"``)."""
    if isinstance(pattern, str) and "${" in pattern:
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), pattern)
    return pattern


def check_log(expect: LogExpect, lines: list[str], repetition: int,
              values: Mapping[str, str] = MappingProxyType({})) -> list[str]:
    where = f" (repetition {repetition + 1})" if repetition else ""
    out = []
    for pattern in (filled(p, values) for p in expect.present):
        if not any(matches(pattern, line) is not None for line in lines):
            out.append(f"error_log{where}: no line matches {pattern!r}")
    for pattern in (filled(p, values) for p in expect.absent):
        hit = next((line for line in lines if matches(pattern, line) is not None), None)
        if hit is not None:
            out.append(f"no_error_log{where}: {pattern!r} found in: {hit[:300]}")
    if expect.grep is not None and expect.grep_out is not None:
        got = grep(expect.grep, lines)
        want = expect.grep_out
        ok = want.compiled().search(got) is not None if isinstance(want, Regex) else got == want
        if not ok:
            out.append(f"grep_error_log_out{where}: {got!r}, expected {want!r}")
    return out


class BlockRunner:
    """Runs blocks of one suite on its :class:`~harness.tnginx.adapter.SuiteStage`."""

    def __init__(self, suite: "SuiteStage", check_leak: bool = False,
                 present_modules: Optional[frozenset[str]] = None, perl_env: Optional[Mapping[str, str]] = None) -> None:
        self.suite = suite
        self.check_leak = check_leak
        self.present_modules = present_modules  # the image's modules (None: unknown, every block runs)
        self.perl_env = dict(perl_env or {})  # what perl read the files with (the image's stand-in nginx)
        self.calls: dict[str, PerlCalls] = {}  # per .t file, for its Perl-sub replies
        self.calls_lock = threading.Lock()

    def perl_calls(self, source: str) -> PerlCalls:
        """The perl process that calls the subs of the file ``source`` (started once, closed by :meth:`close`)."""
        with self.calls_lock:
            calls = self.calls.get(source)
            if calls is None:
                calls = self.calls[source] = PerlCalls(Path(source), self.suite.root, self.perl_env)
            return calls

    def close(self) -> None:
        with self.calls_lock:
            calls, self.calls = list(self.calls.values()), {}
        for one in calls:
            one.close()

    def run(self, block: TBlock, repeats: int = 1) -> BlockResult:
        """Run ``block`` (its requests ``repeats`` times) on a container the suite hands out; safe
        to call from several threads at once (each block gets a container of its own)."""
        result = BlockResult(block.name)
        started = time.perf_counter()
        try:
            self._run(block, max(1, repeats), result)
        except HarnessError as exc:
            result.verdict, result.reason = "error", exc.message
            if exc.detail:
                result.failures.append(exc.detail[-2000:])
        if result.verdict in ("failed", "error") and not result.cause:
            cause = of_failure([*result.failures, result.reason, *result.error_log.split("\n")])
            if cause is not None:
                result.cause = str(cause)
                result.failures.append(f"{cause} ({cause.advice})")
        result.seconds = time.perf_counter() - started
        return result

    def _run(self, block: TBlock, repeats: int, result: BlockResult) -> None:
        if block.unsupported:
            result.cause = result.reason = str(unsupported_sections(block.unsupported))
            result.verdict = "skipped"
            return
        missing = missing_modules(block.needs_modules, self.present_modules)
        if missing is not None:
            result.verdict, result.cause = "skipped", str(missing)
            result.reason = str(missing)
            return
        if block.error:
            result.fail(block.error)
            return
        if block.skip_eval:
            result.verdict, result.reason = "skipped", "skip_eval"
            return
        try:
            nginx = self.suite.openresty(block)
        except NginxConfigError as exc:
            if not block.must_die:
                raise
            lines = f"{exc.message}\n{exc.detail}".split("\n")
            for failure in check_log(block.log_for(0), lines, 0):
                result.fail(failure)
            return
        reusable = True
        try:
            if block.must_die:
                result.fail("must_die: nginx started with this config")
                return
            version = int(nginx.identity.get("nginx", 0) or 0)
            for condition in (block.skip_nginx, block.skip_nginx2):
                if condition and version and nginx_version_matches(condition, version):
                    result.verdict, result.reason = "skipped", f"skip_nginx: {condition.strip()}"
                    return
            self._repetitions(block, repeats, nginx, result)
            if self.check_leak and not block.no_check_leak and result.verdict == "passed":
                self._leak(block, nginx, result)
        except BaseException:
            reusable = False
            raise
        finally:
            self.suite.release(nginx, reusable)

    def _repetitions(self, block: TBlock, repeats: int, nginx: "OpenRestyContainer", result: BlockResult) -> None:
        side = any(SIDE_LOG in text for text in block.fixture.snippets.values())
        companion = self.suite.companion(nginx, block)
        armed = False
        if companion is not None and block.peers and block.works_at_start:
            # its workers talk to its peers as they start (init_worker_by_lua): under Test::Nginx the
            # peers listen by then; here the workers start again once the peers listen
            self._arm(block, companion)
            nginx.switch(block.fixture)
            armed = True
        view = LogView(self.suite.worker_pids(nginx))
        start = since = nginx.generation_log_start
        seen: list[str] = []
        for rep in range(repeats):
            if rep and "user_files" in block.uses:
                self.suite.rewrite_user_files(nginx, block)  # as Test::Nginx, before each later repetition
            if block.accum_log:  # as Test::Nginx with check_accum_error_log: from the block's first line
                since, seen = start, []
            if companion is not None and block.peers:
                calls = self._arm(block, companion, already=armed and rep == 0)
                answering = Answering(companion, calls, block.number) if calls is not None else None
                try:
                    since, lines = self._repetition(block, rep, nginx, since, view, side, result, companion)
                finally:
                    for failure in answering.stop() if answering is not None else ():
                        result.fail(failure)
                    peers_saw = companion.collect()
                for failure in block.peers.check(peers_saw, rep):  # after the log checks, as Test::Nginx
                    result.fail(failure)
            else:
                since, lines = self._repetition(block, rep, nginx, since, view, side, result, companion)
            seen += lines
        if result.verdict == "failed":
            cause = of_failure([*result.failures, *seen])  # every line: a debug log may bury it
            if cause is not None:
                result.cause = str(cause)
                result.failures.append(f"{cause} ({cause.advice})")
            result.error_log = "\n".join(seen[-200:])
            try:
                result.workers = nginx.workers(0.2).format()
            except Exception as exc:  # noqa: BLE001 - evidence must not hide the verdict
                result.workers = f"could not read: {exc}"

    def _arm(self, block: TBlock, companion: "CompanionContainer", already: bool = False) -> Optional[PerlCalls]:
        """The block's mock peers listening (before the requests, as under Test::Nginx), unless
        ``already``; the perl process that answers for a Perl-sub reply, if it has one."""
        calls = self.perl_calls(block.source) if block.peers.asks else None
        if calls is not None:
            calls.start()  # perl reads the file before the first query comes
        if not already:
            companion.arm(block.peers.wire())
        return calls

    def _repetition(self, block: TBlock, rep: int, nginx: "OpenRestyContainer", since: int, view: LogView,
                    side: bool, result: BlockResult,
                    companion: "Optional[CompanionContainer]" = None) -> tuple[int, list[str]]:
        """One repetition: its requests (from the container's 127.0.0.1 through ``companion`` when the
        block looks at the client's address), the checks on the answers and on its error.log lines (read
        from ``since``); returns where the next repetition's lines start, and these lines."""
        talker: Talker = talk
        if block.local_client and companion is not None:
            host, port, talker = "127.0.0.1", block.fixture.port, companion.talk
        else:
            host, port = nginx.endpoint(block.fixture.port)
        answers: list[Answer] = []
        for request in block.requests:
            answers += exchange(host, port, request.packets, block.timeout, answers=request.answers,
                                shutdown=block.shutdown, http09=block.http09, talker=talker)
        for index, answer in enumerate(answers):
            if answer.timed_out and not block.abort:  # as Test::Nginx: --- abort forgives the timeout
                result.fail(f"request {index + 1}: client socket timed out after {block.timeout:g}s")
        if not block.ignore_response:  # what was read is checked, timed out or not, as Test::Nginx does
            for index, (expect, answer) in enumerate(zip(block.expects, answers)):
                for failure in check_answer(expect, answer, index, rep):
                    result.fail(failure)
        if block.wait:
            time.sleep(block.wait)  # the block's own --- wait
        read = nginx.read_error_log(since, settle=SETTLE)
        since = read.end if read.end >= 0 else read.start + len(read.text.encode())
        lines = view.lines(read.text)
        if side and (rep == 0 or block.accum_log):
            # the suite's own writes to Test::Nginx's error log file (jit.v's traces), before nginx's own
            # lines: the suite's handle (io.open(path, "w") in the master) writes from the file's start,
            # where nginx appends to its end. So only a read from the file's start sees them: the
            # first repetition's, or every one's with check_accum_error_log (a later read starts where
            # the last one ended, past them)
            text = nginx.read_log_file(0, SIDE_LOG_NAME) or ""
            lines = [ln for ln in text.split("\n") if ln] + lines
        for failure in check_log(block.log_for(rep), lines, rep, nginx.env):
            result.fail(failure)
        return since, lines

    def _leak(self, block: TBlock, nginx: "OpenRestyContainer", result: BlockResult) -> None:
        from harness.leaks import LeakCheck

        host, port = nginx.endpoint(block.fixture.port)
        redis = self.suite.running_redis()

        def send(n: int) -> None:
            for _ in range(n):
                for request in block.requests:
                    exchange(host, port, request.packets, block.timeout, answers=request.answers,
                             shutdown=block.shutdown, http09=block.http09)
        report = LeakCheck(nginx, redis).run(send, requests_per_round=50, rounds=3)
        leaking = [v for v in report.verdicts.values() if v.leaking]
        result.leak = "; ".join(str(v) for v in report.verdicts.values())
        if leaking:
            result.fail("leak check: " + "; ".join(str(v) for v in leaking))
