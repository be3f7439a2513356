"""``harness t --watch``: a warm harness that outlives one run. It runs the blocks of the given
``.t`` files once, then keeps the stage (network, services, the pool of OpenResty containers) and
re-runs the blocks of a ``.t`` file the moment it is saved; when a Lua module changes (the suite's
``lib/``, a ``--lua-path`` directory, a directory ``LUA_PATH``/``LUA_CPATH`` name) or any other file
below a suite's ``t/`` (its ``t::Module`` Perl, certificates, data), every watched file's blocks run
again, since any of them may use it. Verdicts are printed each round.

A round costs perl reading the saved file (~30 ms: the harness's shim, no warm perl needed) and the
blocks on warm containers, each switched to its block's config by HUP as in a one-off run. A HUP
gives the block new workers and its master a new Lua VM, so a changed module is loaded afresh (the
suite is a read-only bind mount: the container reads the host's file); containers switched ahead of
a change are given back before the round (:meth:`Prefetcher.close`), never used for it.

Files are watched with watchfiles (inotify on Linux). Ctrl-C (or SIGTERM) ends the watch and removes
everything the session made; a killed watch leaves labelled containers that the next run's sweep
removes (:mod:`harness.session`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, TextIO

from harness.errors import HarnessError
from harness.prefetch import DEPTH
from harness.runtime import HarnessRuntime
from harness.settings import Settings
from harness.tnginx import faults
from harness.tnginx.adapter import SuiteStage
from harness.tnginx.ahead import RunAhead
from harness.tnginx.collect import file_blocks
from harness.tnginx.image_nginx import perl_env
from harness.tnginx.items import BlockJob
from harness.tnginx.lanes import lanes_of
from harness.tnginx.load import TFileError, load_tfile, suite_root
from harness.tnginx.luadeps import LuaDeps, split_dirs
from harness.tnginx.runner import BlockResult, BlockRunner, Verdict

STEP_MS = 30  # a change is acted on once the files were quiet this long (an editor's write and rename)
POLL_MS = 200  # how often the watcher hands control back without a change
IGNORED_NAMES = frozenset({"4913", "servroot"})  # vim's probe file; Test::Nginx's own server root


def t_files(paths: Iterable[Path]) -> list[Path]:
    """The ``.t`` files given: files as they are, directories searched below."""
    out: list[Path] = []
    for path in paths:
        path = Path(path).resolve()
        out += sorted(path.rglob("*.t")) if path.is_dir() else [path]
    return list(dict.fromkeys(out))


@dataclass
class Targets:
    """What is watched and what a change re-runs: the given paths (``.t`` files, directories of
    them), each suite's ``lib/`` and ``t/``, and the directories of the suite's Lua dependencies."""

    given: list[Path]
    lua_dirs: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.given = [Path(p).resolve() for p in self.given]
        self.files = t_files(self.given)

    @property
    def roots(self) -> list[Path]:
        return list(dict.fromkeys(suite_root(f) for f in self.files))

    def directories(self) -> list[Path]:
        """Where to watch (directories, not files: an editor's save often replaces the file), a
        parent before its children and a child of a watched directory left out."""
        wanted = [p if p.is_dir() else p.parent for p in self.given]
        for root in self.roots:
            wanted += [d for d in (root / "lib", root / "t") if d.is_dir()]
        wanted += [d for d in self.lua_dirs if d.is_dir()]
        out: list[Path] = []
        for d in sorted(set(wanted), key=lambda p: (len(p.parts), str(p))):
            if not any(d == o or o in d.parents for o in out):
                out.append(d)
        return out

    def affected(self, changed: Iterable[Path]) -> list[Path]:
        """The ``.t`` files to run again for these changed paths: a saved ``.t`` file that is watched
        (a new one below a given directory joins), or every file when anything else changed; [] when
        nothing that matters did."""
        ts: list[Path] = []
        others = False
        for path in (Path(p) for p in changed):
            if any(part in IGNORED_NAMES for part in path.parts) or path.name[:1] == path.name[-1:] == "#":
                continue  # and Emacs's auto-save files (#name#); watchfiles leaves out other editors' own
            if path.suffix == ".t":
                if path in self.files or (path.exists() and any(g in path.parents for g in self.given if g.is_dir())):
                    ts.append(path)
            else:
                others = True
        self.files = [f for f in self.files if f.exists()]
        self.files += [t for t in ts if t.exists() and t not in self.files]
        if others:
            return list(self.files)
        return [f for f in self.files if f in ts]


@dataclass
class Round:
    """One run of some files' blocks."""

    number: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    perl_s: float = 0.0
    seconds: float = 0.0

    def count(self, verdict: Verdict) -> None:
        if verdict == "passed":
            self.passed += 1
        elif verdict == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    def summary(self, why: str) -> str:
        return (f"round {self.number} ({why}): {self.passed} passed, {self.failed} failed, {self.skipped} skipped "
                f"in {self.seconds:.2f}s (perl {self.perl_s:.2f}s)")


class WarmRunner:
    """Runs ``.t`` files' blocks on one stage kept between rounds (its containers stay warm)."""

    def __init__(self, runtime: HarnessRuntime, lanes: str, lua_path: Sequence[str] = (), fault: str = "",
                 check_leak: bool = False, users: tuple[str, str] = ("", ""), out: TextIO = sys.stdout,
                 base: Optional[Path] = None) -> None:
        self.runtime = runtime
        self.stage = runtime.stage()
        runtime.probe_images()
        self.lua_path = list(lua_path)
        self.check_leak = check_leak
        self.users = users  # ACL users of the Redis nodes and of the Sentinels (HARNESS_T_*_USERS)
        self.out = out
        self.base = base or Path.cwd()
        self.stack = contextlib.ExitStack()
        spec = faults.parse(fault)
        self.fault_env = faults.hold_for_run(spec, self.stage, self.stack) if spec is not None else {}
        self.ahead: RunAhead[BlockResult] = RunAhead(1 if check_leak else lanes_of(lanes), DEPTH)
        SuiteStage.allow_lanes(self.stage, self.ahead.lanes)
        pool = self.stage.pool  # every container a round may start stays warm for the next round (a one-off
        pool.max_idle = max(pool.max_idle, pool.per_shape)  # run keeps fewer: it has no next round)
        facts = runtime.facts.get("openresty")
        self.perl_env = perl_env(facts.id, facts.version) if facts is not None and facts.version else {}
        self.modules = (frozenset(n for n, f in facts.components.items() if f.get("present"))
                        if facts is not None else None)
        self.runners: dict[Path, BlockRunner] = {}
        self.rounds = 0
        self.last: Optional[Round] = None  # the last round that ran to its end

    def runner(self, root: Path) -> BlockRunner:
        runner = self.runners.get(root)
        if runner is None:
            deps = LuaDeps.of(os.environ, self.lua_path, inside=[root])
            suite = SuiteStage(self.stage, root, {**deps.env(), **self.fault_env}, extra_mounts=deps.mounts())
            runner = self.runners[root] = BlockRunner(suite, check_leak=self.check_leak, present_modules=self.modules)
        return runner

    def show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.base))
        except ValueError:
            return str(path)

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def run(self, files: Sequence[Path], why: str) -> Round:
        """Run every block of ``files``, printing each verdict and a summary line per file and round."""
        self.rounds += 1
        tally = Round(self.rounds)
        started = time.perf_counter()
        self.stage.prefetcher.close()  # containers switched before the change are not this round's
        loaded: list[tuple[Path, list[tuple[str, Optional[BlockJob], str]]]] = []  # per file: its blocks
        for path in files:
            began = time.perf_counter()
            try:
                tfile = load_tfile(path, env=self.perl_env)
            except TFileError as exc:
                tally.failed += 1
                self.say(f"{self.show(path)} .. FAILED  perl: {exc.message}")
                continue
            finally:
                tally.perl_s += time.perf_counter() - began
            if tfile.skip_all:
                tally.skipped += 1
                self.say(f"{self.show(path)} .. skipped: {tfile.skip_all}")
                continue
            runner = self.runner(tfile.root)
            blocks: list[tuple[str, Optional[BlockJob], str]] = []
            for b in file_blocks(tfile, *self.users):
                key = f"{self.rounds}:{path}::{b.name}"  # a round's own: RunAhead remembers what it prepared
                blocks.append((b.name, None if b.skip else BlockJob(key, runner, b.block, tfile.repeat_each), b.skip))
            loaded.append((path, blocks))
        jobs = [job for _, blocks in loaded for _, job, _ in blocks if job is not None]
        done = 0
        for path, blocks in loaded:
            self.say(self.show(path))
            in_file = Round(self.rounds)
            for name, job, skip in blocks:
                if job is None:
                    result = BlockResult(name, "skipped", reason=skip)
                else:
                    done += 1
                    result = self.result(job, jobs[done:done + self.ahead.lookahead])
                self.report(name, result)
                tally.count(result.verdict)
                in_file.count(result.verdict)
            self.say(f"{self.show(path)} .. {'FAILED' if in_file.failed else 'ok'}  {in_file.passed} passed, "
                     f"{in_file.failed} failed, {in_file.skipped} skipped")
        tally.seconds = time.perf_counter() - started
        self.last = tally  # before the line that says it: a Ctrl-C right after it exits with this round's code
        self.say(tally.summary(why))
        return tally

    def result(self, job: BlockJob, following: Sequence[BlockJob]) -> BlockResult:
        """``job``'s verdict (the next ones start in the lanes meanwhile)."""
        try:
            return self.ahead.result(job, following)
        except Exception as exc:  # noqa: BLE001 - one block's crash is its verdict, the watch goes on
            return BlockResult(job.key.split("::", 1)[1], "error", reason=f"{type(exc).__name__}: {exc}")

    def report(self, name: str, result: BlockResult) -> None:
        mark = {"passed": "ok", "skipped": "skip"}.get(result.verdict, "FAIL")
        why = f" ({result.reason or result.cause})" if result.verdict != "passed" and (result.reason or result.cause) else ""
        self.say(f"  {mark:<4}  {name}{why} ({result.seconds * 1000:.0f} ms)")
        if result.verdict in ("failed", "error"):
            for failure in result.failures:
                self.say(f"        - {failure}")
            if result.error_log:
                self.say("        error.log (this block, last lines):")
                for line in result.error_log.split("\n")[-10:]:
                    self.say(f"          {line}")

    def close(self) -> None:
        self.ahead.close()
        self.stack.close()


def watch(paths: Sequence[Path], reports: Path = Path("reports"), jobs: str = "", fault: str = "",
          check_leak: bool = False, image: Optional[str] = None, lua_path: Sequence[str] = ()) -> int:
    """Run ``paths``' blocks, then again on every change until Ctrl-C (or SIGTERM); returns 0 when the
    last round passed, 1 when a block of it failed, 2 when none ran to its end."""
    import watchfiles

    from harness.tnginx.settings import TSettings

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise HarnessError(f"no such .t file or directory: {missing[0]} (give .t files or the directories holding them)")
    targets = Targets(list(paths))
    if not targets.files:
        raise HarnessError(f"no .t files in {', '.join(map(str, paths))}")
    settings = TSettings.from_sources()
    lua_dirs = [*lua_path, *split_dirs(settings.lua_path)]
    deps = LuaDeps.of(os.environ, lua_dirs)  # a --lua-path directory that does not exist: one line, now
    targets.lua_dirs = [Path(d) for d in deps.dirs]
    try:
        lanes_of(jobs or settings.t_lanes)
    except ValueError as exc:
        raise HarnessError(f"-n {jobs or settings.t_lanes}: {exc}") from None
    faults.parse(fault)
    core = Settings.from_sources({"openresty_image": image or "", "reports_dir": str(Path(reports).resolve())})
    runtime = HarnessRuntime(core, Path.cwd())
    runner: Optional[WarmRunner] = None
    try:
        for line in runtime.header():
            print(line, flush=True)
        runner = WarmRunner(runtime, jobs or settings.t_lanes, lua_dirs, fault, check_leak,
                            (settings.redis_users, settings.sentinel_users))
        directories = targets.directories()
        changes = watchfiles.watch(*directories, step=STEP_MS, rust_timeout=POLL_MS, yield_on_timeout=True,
                                   raise_interrupt=True)
        next(changes)  # the watcher is set up: a save from now on is seen, also during the first round
        runner.run(targets.files, "first run")
        print(f"watching {len(directories)} director{'y' if len(directories) == 1 else 'ies'} for changes: "
              f"{', '.join(runner.show(d) for d in directories)} (Ctrl-C to stop)", flush=True)
        for changed in changes:
            files = targets.affected(Path(p) for _, p in changed)
            if not files:
                continue
            saved = sorted({Path(p) for _, p in changed if Path(p).exists()} or {Path(p) for _, p in changed})
            why = ", ".join(runner.show(p) for p in saved[:3]) + (f" and {len(saved) - 3} more" if len(saved) > 3 else "")
            runner.run(files, f"{why} changed")
    except KeyboardInterrupt:
        print("harness t --watch: stopping, removing the session's containers", flush=True)
    finally:
        try:
            if runner is not None:
                runner.close()
        finally:
            runtime.close()
    if runner is None or runner.last is None:
        return 2  # not one round ran to its end
    return 1 if runner.last.failed else 0
