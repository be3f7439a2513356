"""pytest collection of Test::Nginx ``.t`` files: each block is a test item named
``file.t::TEST N: title``, run in the file's order (Test::Nginx shuffles unless ``no_shuffle()``;
the harness never does, so a failure reproduces). ``repeat_each(N)`` repeats the requests inside
the item, each repetition with its own error.log window. With ``--harness-t-lanes=N`` the next
blocks already run while pytest reports this one (see :mod:`harness.tnginx.ahead`)."""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from harness.errors import HarnessError
from harness.prefetch import DEPTH
from harness.stage import Stage
from harness.pytest_stage import RUNTIME, session_stage
from harness.tnginx.adapter import SuiteStage
from harness.tnginx.ahead import RunAhead
from harness.tnginx.lanes import Lanes, lanes_of
from harness.tnginx.block import TBlock
from harness.tnginx.collect import file_blocks
from harness.tnginx.durations import FILE_NAME as DURATIONS_FILE
from harness.tnginx.durations import Durations, from_sections
from harness.tnginx import faults
from harness.tnginx.image_nginx import perl_env
from harness.tnginx.load import TFile, TFileError
from harness.tnginx.readahead import ReadAhead
from harness.tnginx.luadeps import LuaDeps, split_dirs
from harness.tnginx.runner import BlockResult, BlockRunner
from harness.tnginx.settings import TSettings

RESULTS = pytest.StashKey[list[tuple[str, BlockResult]]]()
RUN_AHEAD = pytest.StashKey[RunAhead[BlockResult]]()
STARTED_EARLY = pytest.StashKey[bool]()
RUNNERS = pytest.StashKey[dict[Path, BlockRunner]]()
FAULT = pytest.StashKey[tuple[contextlib.ExitStack, dict[str, str]]]()
SETTINGS = pytest.StashKey[TSettings]()  # set by harness.tnginx.plugin
DURATIONS = pytest.StashKey[Durations]()
READ_AHEAD = pytest.StashKey[ReadAhead]()
NETWORK = pytest.StashKey[threading.Thread]()  # makes the session's network while perl reads the files
SHARED_DATA = "shared data"  # the chain of blocks using a session service's data
log = logging.getLogger(__name__)


def is_t_file(path: Path, rootdir: Path, t_paths: str) -> bool:
    """A ``*.t`` file below one of ``t_paths`` (directory names such as ``t``, or paths)."""
    if path.suffix != ".t":
        return False
    path = path.resolve()
    for entry in (p.strip() for p in t_paths.split(",") if p.strip()):
        if "/" in entry or entry.startswith("."):
            base = (rootdir / entry).resolve()
            if base == path.parent or base in path.parents:
                return True
        else:
            try:
                parts = path.relative_to(rootdir.resolve()).parts[:-1]
            except ValueError:  # outside the rootdir (given on the command line): its own directories
                parts = path.parts[-2:-1]
            if entry in parts:
                return True
    return False


class BlockFailed(Exception):
    def __init__(self, result: BlockResult) -> None:
        super().__init__(result.name)
        self.result = result


class TFileCollector(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            tfile = read_ahead(self.config).get(Path(self.path))
        except TFileError as exc:
            yield BrokenTFileItem.from_parent(self, name="perl", error=exc)
            return
        if tfile.skip_all:
            yield SkippedTFileItem.from_parent(self, name="skip_all", reason=str(tfile.skip_all))
            return
        runnable: list[TBlockItem] = []
        settings = self.config.stash[SETTINGS]
        for built in file_blocks(tfile, settings.redis_users, settings.sentinel_users):
            item = TBlockItem.from_parent(self, name=built.name, block=built.block, tfile=tfile, skip=built.skip)
            if not built.skip:
                runnable.append(item)
            yield item
        if runnable:  # every block of the file read: the services it needs are known
            start_early(self.config, runnable)


class BrokenTFileItem(pytest.Item):
    def __init__(self, *, error: TFileError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> str:
        return f"{self.error.message}\n{self.error.detail}".rstrip()

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return Path(self.path), None, f"{Path(self.path).name}: perl"


class SkippedTFileItem(pytest.Item):
    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def runtest(self) -> None:
        pytest.skip(f"skip_all: {self.reason}")

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return Path(self.path), None, f"{Path(self.path).name}: skip_all"


class TBlockItem(pytest.Item):
    """One block, run by :class:`BlockRunner` on the session's stage."""

    def __init__(self, *, block: TBlock, tfile: TFile, skip: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block = block
        self.tfile = tfile
        self.skip_reason = skip
        self._job: Optional[BlockJob] = None
        self.add_marker(pytest.mark.integration)
        self.add_marker(pytest.mark.tnginx)

    def runtest(self) -> None:
        if self.skip_reason:
            pytest.skip(self.skip_reason)
        ahead = run_ahead(self.config)
        job = self.job()
        result = ahead.result(job, [] if ahead.knows(job.key) else [i.job() for i in self.following()])
        self.config.stash.setdefault(RESULTS, []).append((str(self.path), result))
        self.user_properties.append(("verdict", result.verdict))
        if job.span:
            # microseconds: rounded to ms, a block ending as the next of its chain starts read as overlapping
            self.user_properties.append(("span", " ".join(f"{x:.6f}" for x in job.span)))
        if result.cause:
            self.user_properties.append(("cause", result.cause))
        if result.leak:
            self.user_properties.append(("leak", result.leak))
        if result.verdict == "skipped":
            pytest.skip(result.reason)
        if result.verdict != "passed":
            for title, text in (("error.log (this block)", result.error_log), ("workers", result.workers)):
                if text:
                    self.add_report_section("call", title, text)
                    self.user_properties.append((f"harness: {title}", text))
            raise BlockFailed(result)

    def job(self) -> "BlockJob":
        """This block as the run-ahead's job (made once: its suite's runner and services too)."""
        if self._job is None:
            durations = block_durations(self.config)
            known = durations.get(self.nodeid)
            estimate = known if known is not None else from_sections(self.block, self.tfile.repeat_each)
            self._job = BlockJob(self.nodeid, self.runner(), self.block, self.tfile.repeat_each, estimate, durations)
        return self._job

    def runner(self) -> BlockRunner:
        runners = self.config.stash.setdefault(RUNNERS, {})
        runner = runners.get(self.tfile.root)
        if runner is None:
            stage = session_stage(self.config)
            settings = self.config.stash[SETTINGS]
            deps = LuaDeps.of(os.environ, split_dirs(settings.lua_path), inside=[self.tfile.root])
            env = {**deps.env(), **run_fault_env(self.config, stage)}
            suite = SuiteStage(stage, self.tfile.root, env, extra_mounts=deps.mounts())
            runner = runners[self.tfile.root] = BlockRunner(suite, check_leak=settings.checks_leaks,
                                                            present_modules=image_modules(self.config),
                                                            perl_env=image_perl_env(self.config))
        return runner

    def following(self) -> list["TBlockItem"]:
        """The blocks pytest runs after this one (skipped ones left out). Under pytest-xdist only
        this file's: with ``--dist loadfile`` a worker runs a file's blocks in order."""
        items = self.session.items
        index = items.index(self) if self in items else len(items)
        same_file = hasattr(self.config, "workerinput")
        out: list[TBlockItem] = []
        for item in items[index + 1:]:
            block = item if isinstance(item, TBlockItem) and (not same_file or item.tfile is self.tfile) else None
            if same_file and block is None:
                break
            if block is not None and not block.skip_reason:
                out.append(block)
        return out

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> Any:
        if isinstance(excinfo.value, BlockFailed):
            return excinfo.value.result.format()
        if isinstance(excinfo.value, HarnessError):
            return f"harness error: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return Path(self.path), None, f"{Path(self.path).name}::{self.name}"


@dataclass(frozen=True, eq=False)
class BlockJob:
    """A block for :class:`~harness.tnginx.ahead.RunAhead`: in the chain of blocks that run one at a
    time when its config names a session service that keeps data (Redis, memcached: every block's);
    quiet (alone, nothing prepared meanwhile) when its verdict depends on its timers firing on time
    (:attr:`TBlock.timed`: Test::Nginx runs it on an otherwise idle nginx); ``estimate``: the seconds it
    took last time, else what its sections say it waits."""

    key: str
    runner: BlockRunner
    block: TBlock
    repeats: int
    estimate: float = 0.0
    durations: Optional[Durations] = None
    span: list[float] = field(default_factory=list)  # when it ran: [start (epoch s), seconds]

    @cached_property
    def chain(self) -> Optional[str]:  # asked at every look at the lanes: the block's text is read once
        return SHARED_DATA if SuiteStage.shares_data(self.block) else None

    @cached_property
    def quiet(self) -> bool:
        return self.block.timed

    def prepare(self) -> bool:
        b = self.block
        if b.unsupported or b.error or b.must_die or b.skip_eval:
            return True  # nothing to prepare: it needs no container, or one nginx refuses
        if b.timed:  # its workers' timers start with them: switched when it runs, as Test::Nginx starts
            return True  # its nginx just before the requests (a 1 s wait in init_worker's timer, say)
        return self.runner.suite.prepare(b)

    def run(self) -> BlockResult:
        began = time.time()
        result = self.runner.run(self.block, self.repeats)
        self.span[:] = [began, time.time() - began]
        if self.durations is not None and result.verdict != "error":
            self.durations.record(self.key, result.seconds)
        return result


def block_durations(config: pytest.Config) -> Durations:
    """The blocks' run times of earlier runs, kept beside the reports (saved at the session's end)."""
    durations = config.stash.get(DURATIONS, None)
    if durations is None:
        durations = config.stash[DURATIONS] = Durations(config.stash[RUNTIME].reports_dir / DURATIONS_FILE)
    return durations


def read_ahead(config: pytest.Config) -> ReadAhead:
    """The session's readers of `.t` files (perl runs side by side; see :mod:`harness.tnginx.readahead`).
    The stage opens first, here in the main thread (its signal handlers), and the session's network is
    made while perl reads the files (the first container needs it)."""
    reader = config.stash.get(READ_AHEAD, None)
    if reader is None:
        try:
            stage: Optional[Stage] = config.stash[RUNTIME].stage()
        except HarnessError:
            stage = None  # no engine: the blocks skip or fail on their own
        if stage is not None and not config.option.collectonly:
            maker = config.stash[NETWORK] = threading.Thread(target=make_network, args=(stage,),
                                                             name="harness-t-network", daemon=True)
            maker.start()
        reader = config.stash[READ_AHEAD] = ReadAhead(lambda: image_perl_env(config))
    return reader


def make_network(stage: Stage) -> None:
    """The stage's network, made now (a failure is the first container's to report)."""
    try:
        stage.reach
    except Exception as exc:  # noqa: BLE001 - the first block that needs it raises it again
        log.debug("network not made ahead: %s", exc)


def image_perl_env(config: pytest.Config) -> dict[str, str]:
    """The environment perl reads a file with: the stand-in ``nginx`` of the image the blocks run on
    (nothing without an engine or image: the blocks then skip or fail on their own)."""
    runtime = config.stash[RUNTIME]
    try:
        runtime.stage()
        runtime.probe_images()
    except HarnessError:
        return {}
    facts = runtime.facts.get("openresty")
    return perl_env(facts.id, facts.version) if facts is not None and facts.version else {}


def image_modules(config: pytest.Config) -> Optional[frozenset[str]]:
    """The components (modules, libraries) the probe found in the session's OpenResty image; None:
    not probed."""
    facts = config.stash[RUNTIME].facts.get("openresty")
    if facts is None:
        return None
    return frozenset(name for name, fact in facts.components.items() if fact.get("present"))


def start_early(config: pytest.Config, items: list[TBlockItem]) -> None:
    """Have the containers of the first blocks (one a lane) start while pytest still collects (perl
    reads the other files): once a session, never for ``--collect-only`` or on an xdist worker."""
    if config.stash.get(STARTED_EARLY, False) or config.option.collectonly or hasattr(config, "workerinput"):
        return
    config.stash[STARTED_EARLY] = True
    try:
        ahead = run_ahead(config)  # the pool learns how many blocks run at once before it starts any
        for item in items[:ahead.first_lanes]:
            item.job().prepare()
    except Exception as exc:  # noqa: BLE001 - the blocks' own runs report what is wrong
        log.debug("early start for %s failed: %s", items[0].nodeid, exc)


def run_ahead(config: pytest.Config) -> RunAhead[BlockResult]:
    """The session's run-ahead: ``--harness-t-lanes`` lanes (1 under pytest-xdist, whose workers
    run parts of the file list, and with the leak check, whose verdicts want a quiet machine)."""
    ahead = config.stash.get(RUN_AHEAD, None)
    if ahead is None:
        stage = session_stage(config)
        settings = config.stash[SETTINGS]
        try:
            lanes: Lanes = lanes_of(settings.t_lanes)
        except ValueError as exc:
            raise HarnessError(f"--harness-t-lanes / HARNESS_T_LANES: {exc}") from None
        if hasattr(config, "workerinput") or settings.checks_leaks:
            lanes = 1
        # the pool keeps as many containers of a shape as lanes run now (each start is heavy on a loaded machine)
        ahead = config.stash[RUN_AHEAD] = RunAhead(lanes, DEPTH, on_lanes=lambda n: SuiteStage.allow_lanes(stage, n))
        SuiteStage.allow_lanes(stage, ahead.first_lanes)
    return ahead


def run_fault_env(config: pytest.Config, stage: Stage) -> dict[str, str]:
    """Hold ``--harness-fault`` for the rest of the session (once); the env containers need."""
    held = config.stash.get(FAULT, None)
    if held is None:
        stack = contextlib.ExitStack()
        fault = faults.parse(config.stash[SETTINGS].fault)
        env = faults.hold_for_run(fault, stage, stack) if fault is not None else {}
        held = config.stash[FAULT] = (stack, env)
    return held[1]


def close(config: pytest.Config) -> None:
    reader = config.stash.get(READ_AHEAD, None)
    if reader is not None:
        reader.close()
    maker = config.stash.get(NETWORK, None)
    if maker is not None:
        maker.join()  # made before the stage closes, so the stage removes it
    ahead = config.stash.get(RUN_AHEAD, None)
    if ahead is not None:
        ahead.close()
    for runner in config.stash.get(RUNNERS, {}).values():
        runner.close()
    held = config.stash.get(FAULT, None)
    if held is not None:
        held[0].close()
    durations = config.stash.get(DURATIONS, None)
    if durations is not None:
        durations.save()
