"""The files the harness ships inside its package, found with :mod:`importlib.resources`: the fixture
apps (``harness.fixtures``, from the repository's ``nginx-fixtures/``), the scenario catalogue
(``harness.catalogue``, from ``scenarios/catalogue/``), the Lua it injects, image recipes, sidecar
and locust scripts, and the ``harness init`` template.

Nothing here knows where the repository is: an installed wheel and an editable install both answer.
Containers bind-mount or copy these files, so each must be a file or directory on disk.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from harness.errors import HarnessError

FIXTURES = "harness.fixtures"
CATALOGUE = "harness.catalogue"


def shipped(package: str, *parts: str) -> Path:
    """``parts`` inside the installed ``package`` as a path on disk (it may not exist, if a wheel lacks it)."""
    found = files(package).joinpath(*parts)
    if not isinstance(found, Path):
        raise HarnessError(f"{package} is not installed as files on disk ({found!r}): install openresty-harness "
                           "with pip (a wheel), not from a zip")
    return found


def fixtures_dir() -> Path:
    """The fixture apps the harness ships (the catalogue's, the perf default ``hello``, the sample app)."""
    return shipped(FIXTURES)


def catalogue_dir() -> Path:
    """The scenario catalogue (``*.scenario.yaml``) that ``harness run`` runs by default."""
    return shipped(CATALOGUE)
