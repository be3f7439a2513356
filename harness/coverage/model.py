"""A coverage result: per file, its executable lines and how often each ran."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileCoverage:
    """One Lua file: ``path`` as reports name it, its text, the lines that are code, their counts."""

    path: str
    text: str
    executable: frozenset[int]
    counts: dict[int, int] = field(default_factory=dict)  # line -> times it ran (code lines only)
    error: str = ""  # why its lines are unknown (it did not compile)

    @property
    def found(self) -> int:
        return len(self.executable)

    @property
    def hit(self) -> int:
        return sum(1 for line in self.executable if self.counts.get(line, 0) > 0)

    @property
    def covered(self) -> list[int]:
        return sorted(line for line in self.executable if self.counts.get(line, 0) > 0)

    @property
    def missed(self) -> list[int]:
        return sorted(line for line in self.executable if self.counts.get(line, 0) == 0)


def percent(hit: int, found: int) -> float:
    """Covered share in per cent; a run with no code lines counts as fully covered."""
    return 100.0 * hit / found if found else 100.0


@dataclass(frozen=True)
class CoverageResult:
    files: tuple[FileCoverage, ...]

    @property
    def found(self) -> int:
        return sum(f.found for f in self.files)

    @property
    def hit(self) -> int:
        return sum(f.hit for f in self.files)

    @property
    def percent(self) -> float:
        return percent(self.hit, self.found)

    def summary(self) -> str:
        """The one line of the run summary."""
        return (f"Lua line coverage: {self.percent:.1f}% ({self.hit} of {self.found} lines in "
                f"{len(self.files)} file(s))")
