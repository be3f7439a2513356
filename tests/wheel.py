"""Build this project's wheel outside the work tree and check it ships every file of its packages.

The packages and the directories they come from are read from pyproject.toml
(``[tool.setuptools] packages`` and ``package-dir``), so the rule is written once: every file in a
package's source directory is in the wheel (``nginx-fixtures/X`` as ``harness/fixtures/X``,
``scenarios/catalogue/X`` as ``harness/catalogue/X``, ``harness/X`` as itself).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

SKIP = ("__pycache__", ".pyc", ".egg-info")


def package_sources(repo: Path) -> dict[str, Path]:
    """Top-level source directory of each package tree: ``{"harness": repo/harness, "harness.fixtures": ...}``."""
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {name: repo / path for name, path in setuptools.get("package-dir", {}).items()}
    roots = {name for name in setuptools["packages"] if "." not in name}
    return {**{name: repo / name for name in roots}, **mapped}


def _skipped(path: Path) -> bool:
    return any(part.endswith(SKIP) for part in path.parts)


def expected_files(repo: Path) -> set[str]:
    """The wheel paths of every source file of every package (caches left out)."""
    expected = set()
    for package, source in package_sources(repo).items():
        for path in source.rglob("*"):
            rel = path.relative_to(source)
            if path.is_file() and not _skipped(rel):
                expected.add("/".join([*package.split("."), *rel.parts]))
    return expected


def missing_from_wheel(wheel: Path, repo: Path) -> list[str]:
    """Source files that the wheel does not hold, sorted (empty: it is complete)."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    return sorted(expected_files(repo) - shipped)


def build_wheel(repo: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of a copy of the sources (so no stale build/ of the work tree leaks in)."""
    source = out / "src"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, source / name)
    for package_dir in package_sources(repo).values():
        shutil.copytree(package_dir, source / package_dir.relative_to(repo),
                        ignore=shutil.ignore_patterns(*(f"*{s}" for s in SKIP)))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"pip wheel failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (wheel,) = out.glob("openresty_harness-*.whl")
    return wheel


def without(wheel: Path, names: set[str], out: Path) -> Path:
    """A copy of ``wheel`` in ``out`` lacking ``names`` (to prove a missing file is caught)."""
    copy = out / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(copy, "w") as dst:
        for item in src.infolist():
            if item.filename not in names:
                dst.writestr(item, src.read(item))
    return copy
