"""Which lines of a Lua file are code: the lines that hold a bytecode instruction when the image's own
LuaJIT compiles the file (lualib/coverage_lines.lua, run in a short-lived container of the run's
OpenResty image). These are exactly the lines a line hook can report, whatever the syntax (OpenResty's
``goto``, long strings, a table constructor over many lines): a source parser would count lines the
hook never reports, and miss the ``end`` of a function, which holds the instruction that makes it."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Union

from harness.coverage.scope import SourceFile
from harness.errors import HarnessError
from harness.resources import shipped

if TYPE_CHECKING:
    from harness.containers.base import Reach
    from harness.images.resolver import ResolvedImage
    from harness.session import HarnessSession

SCRIPT = "coverage_lines.lua"
INSIDE = "/harness-coverage"  # where the files go in the container
LineSets = dict[str, Union[frozenset[int], str]]  # digest -> executable lines, or why the file did not compile
Runner = Callable[[Path, list[str]], str]  # (directory with the script and files, their names) -> output


def parse_lines_output(text: str) -> dict[str, Union[frozenset[int], str]]:
    """coverage_lines.lua's output: "NAME<TAB>1,2,5" or "NAME<TAB>!error" per file."""
    out: dict[str, Union[frozenset[int], str]] = {}
    for raw in text.splitlines():
        name, sep, rest = raw.partition("\t")
        if not sep:
            continue
        if rest.startswith("!"):
            out[name] = rest[1:].strip() or "does not compile"
        else:
            out[name] = frozenset(int(n) for n in rest.split(",") if n.strip().isdigit())
    return out


def executable_lines(sources: Iterable[SourceFile], run: Runner) -> LineSets:
    """The executable lines of each distinct text among ``sources``, by digest; ``run`` runs
    ``luajit coverage_lines.lua NAME...`` in a directory holding the script and the files."""
    by_digest: Mapping[str, SourceFile] = {s.digest: s for s in sources}
    if not by_digest:
        return {}
    with tempfile.TemporaryDirectory(prefix="harness-coverage-") as tmp:
        work = Path(tmp) / Path(INSIDE).name
        work.mkdir()
        shutil.copy(shipped("harness", "lualib", SCRIPT), work / SCRIPT)
        names = []
        for digest, source in by_digest.items():
            (work / f"{digest}.lua").write_bytes(source.text)
            names.append(f"{digest}.lua")
        for path in [work, *work.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        found = parse_lines_output(run(work, names))
    return {name[:-len(".lua")]: lines for name, lines in found.items()}


def exec_runner(copy_in: Callable[[Path, str], None], sh: Callable[[str], tuple[int, str]], luajit: str,
                into: str) -> Runner:
    """A :data:`Runner` in a running container: the directory copied under ``into`` (``copy_in``), the
    script run by ``sh`` with ``luajit`` (what the container's image compiles with)."""
    def run(directory: Path, names: list[str]) -> str:
        copy_in(directory, into)
        code, out = sh(f"cd {into}/{directory.name} && {luajit} {SCRIPT} {' '.join(names)}; s=$?; "
                       f"rm -rf {into}/{directory.name}; exit $s")
        if code != 0:
            raise HarnessError(f"coverage: {luajit} {SCRIPT} failed (exit {code}): "
                               f"{out.strip().splitlines()[-1] if out.strip() else 'no output'}")
        return out
    return run


def probe_runner(image: "ResolvedImage", session: "HarnessSession", reach: "Reach", luajit: str) -> Runner:
    """A :data:`Runner` that runs the script with ``luajit`` in a short-lived container of ``image``."""
    from harness.preflight.probe import ProbeContainer

    def run(directory: Path, names: list[str]) -> str:
        with ProbeContainer(image, session, reach, [(directory, "/")], user="65534:65534") as probe:
            code, out = probe.sh(f"cd {INSIDE} && {luajit} {SCRIPT} {' '.join(names)}")
        if code != 0:
            raise HarnessError(f"coverage: {luajit} {SCRIPT} failed (exit {code}) in {image.ref}: "
                               f"{out.strip().splitlines()[-1] if out.strip() else 'no output'}")
        return out
    return run
