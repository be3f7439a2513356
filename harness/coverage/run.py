"""One run's coverage: what each container's workers counted (gathered when the container is removed),
the covered files they could have run, their code lines, and the reports written at the end."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Mapping, Optional, Sequence

from harness.coverage.hits import Hits, hits_in_archive, merge, parse_hits
from harness.coverage.html import write_html
from harness.coverage.lcov import lcov_text
from harness.coverage.lines import LineSets, Runner, executable_lines
from harness.coverage.model import CoverageResult, FileCoverage
from harness.coverage.scope import CoverageScope, SourceFile
from harness.nginx_conf import Fixture

log = logging.getLogger(__name__)
Mounts = Sequence[tuple[str, str]]
LCOV_NAME = "lcov.info"
SUMMARY_NAME = "summary.txt"


class CoverageRun:
    """Thread-safe: containers are removed by the pool's background threads."""

    def __init__(self, scope: CoverageScope) -> None:
        self.scope = scope
        self._lock = threading.Lock()
        self._measuring = threading.Lock()  # one measurement at a time: the others then find it done
        self._files: dict[tuple[str, str], SourceFile] = {}  # (key, digest) -> file
        self._counts: Hits = {}  # "key\0digest" -> line -> count
        self._lines: LineSets = {}  # digest -> code lines (or why unknown)
        self.unplaced: set[str] = set()  # chunk names counted that no known file matched
        self._seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()  # (fixture digest, mounts) done

    @classmethod
    def from_setting(cls, value: str, rootdir: Path) -> Optional["CoverageRun"]:
        """The run for ``--harness-coverage`` = ``value`` (empty: None, no coverage)."""
        return cls(CoverageScope(value, rootdir)) if value.strip() else None

    # ---- what containers call -----------------------------------------------------------------
    def patterns(self, fixture: Fixture, mounts: Mounts, workdir: str = "") -> tuple[str, ...]:
        """The chunk-name patterns a generation running ``fixture`` counts; records its covered files."""
        seen = (fixture.digest(), tuple(mounts))
        found = [] if seen in self._seen else self.scope.candidates(fixture, mounts)
        with self._lock:
            self._seen.add(seen)
            for source in found:
                self._files.setdefault((source.key, source.digest), source)
        return self.scope.patterns(fixture, mounts, workdir) or ("^$",)  # never empty: the workers count nothing

    def harvest(self, archive: bytes, fixtures: Mapping[int, Fixture], mounts: Mounts, workdir: str = "") -> None:
        """Add the hits files of one container (a tar of its coverage directory)."""
        counted: Hits = {}
        for text in hits_in_archive(archive):
            merge(counted, parse_hits(text))
        with self._lock:
            for chunk, lines in counted.items():
                source = self.scope.locate(chunk, fixtures, mounts, workdir)
                if source is None:
                    self.unplaced.add(chunk)
                    continue
                self._files.setdefault((source.key, source.digest), source)
                merge(self._counts, {f"{source.key}\0{source.digest}": lines})

    # ---- at the end ---------------------------------------------------------------------------
    @property
    def unmeasured(self) -> int:
        """How many file texts have no code lines yet."""
        with self._lock:
            return len({s.digest for s in self._files.values()} - set(self._lines))

    def measure(self, run: Runner) -> None:
        """Find the code lines of every file not measured yet (``run``: coverage_lines.lua by the
        LuaJIT of the run's image)."""
        with self._measuring:
            with self._lock:
                todo = [s for s in self._files.values() if s.digest not in self._lines]
            found = executable_lines(todo, run)
            with self._lock:
                self._lines.update(found)

    def result(self, sources_dir: Path) -> CoverageResult:
        """Per file: code lines and counts. Files not on the host (a fixture declared inline) are
        written under ``sources_dir``, so that every report names a file that exists."""
        with self._lock:
            files = dict(self._files)
            counts = {k: dict(v) for k, v in self._counts.items()}
            lines = dict(self._lines)
        texts_per_key: dict[str, int] = {}
        for key, _ in files:
            texts_per_key[key] = texts_per_key.get(key, 0) + 1
        out = []
        for (key, digest), source in sorted(files.items()):
            path = key if texts_per_key[key] == 1 else f"{key}@{digest}"
            if not source.on_host:
                target = sources_dir / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.text)
                path = str(target.resolve())
            known = lines.get(digest, "its code lines were not measured")
            code = known if isinstance(known, frozenset) else frozenset()
            hit = counts.get(f"{key}\0{digest}", {})
            out.append(FileCoverage(path, source.text.decode(errors="replace"), code,
                                    {n: c for n, c in hit.items() if n in code},
                                    known if isinstance(known, str) else ""))
        return CoverageResult(tuple(out))

    def write(self, directory: Path) -> CoverageResult:
        """``lcov.info``, the HTML report and ``summary.txt`` (the one-line total) in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        result = self.result(directory / "sources")
        lcov = directory / LCOV_NAME
        lcov.write_text(lcov_text(result))
        write_html(result, directory, lcov)
        (directory / SUMMARY_NAME).write_text(result.summary() + "\n")
        if self.unplaced:
            log.info("coverage: counted chunks with no known file: %s", ", ".join(sorted(self.unplaced)))
        return result


def below_minimum(result: CoverageResult, minimum: float) -> Optional[str]:
    """The message for ``--harness-coverage-min`` when the total is below it, else None."""
    if minimum > 0 and result.percent < minimum:
        return (f"Lua line coverage {result.percent:.1f}% is below --harness-coverage-min {minimum:g}%: "
                f"test the lines marked in reports/coverage/index.html, or lower the minimum")
    return None
