"""What a preflight runs with: one value object that every front end (CLI, pytest, YAML) builds.

Defaults and documentation live in :mod:`harness.preflight.settings` (``HARNESS_PREFLIGHT_*``);
a front end passes only what its user gave, :meth:`PreflightOptions.resolve` fills in the rest
and checks the values, so a wrong one is the same one-line error everywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Union

from harness.errors import HarnessError
from harness.preflight.settings import PreflightSettings

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)[bB]?\s*$")
UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
FIELDS = ("cpus", "memory", "nofile", "workers", "paths", "env")


class PreflightOptionError(HarnessError):
    """A preflight option has a value that cannot be used."""


def parse_size(text: str) -> int:
    """``"256m"`` -> bytes (k, m, g are powers of 1024, as the engine reads them)."""
    match = SIZE.match(str(text))
    if not match:
        raise PreflightOptionError(f"memory {text!r}: write a size such as 256m, 1g or 512000k")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class PreflightOptions:
    """Limits of the app's container and how it is exercised (build it with :meth:`resolve`: the
    defaults are the settings').

    ``workers`` is nginx's ``worker_processes``: a number, or ``"auto"`` (nginx counts the CPUs it
    sees, not the container's quota). ``paths`` are requested during the warm-up before the
    worker RSS is read (default ``/``)."""

    cpus: float
    memory: str
    nofile: Optional[int]  # None: the engine's default
    workers: Union[int, str]
    paths: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # the app's environment, also ${NAME} in its config

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @classmethod
    def resolve(cls, settings: Optional[PreflightSettings] = None, **given: Any) -> "PreflightOptions":
        """The options from ``given`` (None or missing: the setting, i.e. ``--preflight-*``,
        ``HARNESS_PREFLIGHT_*`` or its default). Raises :class:`PreflightOptionError` naming the bad value."""
        settings = settings or PreflightSettings.from_sources()
        unknown = set(given) - set(FIELDS) - {"path"}
        if unknown:
            raise PreflightOptionError(f"unknown preflight option(s) {', '.join(sorted(unknown))}: "
                                       f"use {', '.join(FIELDS)}")
        def pick(name: str) -> Any:
            value = given.get(name)
            return getattr(settings, f"preflight_{name}") if value is None or value == "" else value

        try:
            cpus = float(pick("cpus"))
        except (TypeError, ValueError):
            raise PreflightOptionError(f"cpus {pick('cpus')!r}: write a number of CPUs such as 1 or 0.5") from None
        if cpus <= 0:
            raise PreflightOptionError(f"cpus {cpus:g}: the CPU quota must be above 0")
        memory = str(pick("memory")).strip()
        if parse_size(memory) < 8 * 1024 ** 2:
            raise PreflightOptionError(f"memory {memory}: the engine needs at least 8m (6m is its floor)")
        nofile_raw = pick("nofile")
        nofile: Optional[int] = None
        if nofile_raw not in (None, ""):
            try:
                nofile = int(nofile_raw)
            except (TypeError, ValueError):
                nofile = 0
            if nofile < 16:
                raise PreflightOptionError(f"nofile {nofile_raw!r}: write a whole number of open files, 16 or more")
        workers = cls._workers(pick("workers"))
        paths = given.get("paths") or given.get("path") or ("/",)
        paths = (paths,) if isinstance(paths, str) else tuple(paths)
        for path in paths:
            if not str(path).startswith("/"):
                raise PreflightOptionError(f"path {path!r}: write a path that starts with /, such as /count?key=a")
        return cls(cpus=cpus, memory=memory, nofile=nofile, workers=workers, paths=paths, env=cls._env(given.get("env")))

    @staticmethod
    def _env(value: Any) -> tuple[tuple[str, str], ...]:
        """``{"A": "1"}`` or ``["A=1"]`` (the CLI's form) -> sorted pairs."""
        if not value:
            return ()
        pairs = value.items() if isinstance(value, dict) else [str(item).partition("=")[::2] for item in value]
        out = []
        for key, val in pairs:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
                raise PreflightOptionError(f"env {key!r}: write NAME=VALUE with a name of letters, digits and _")
            out.append((str(key), str(val)))
        return tuple(sorted(out))

    @staticmethod
    def _workers(value: Any) -> Union[int, str]:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit() and int(text) >= 1:
            return int(text)
        raise PreflightOptionError(f"workers {value!r}: write a number of workers (1 or more) or auto")

    def as_dict(self) -> dict[str, Any]:
        return {"cpus": self.cpus, "memory": self.memory, "nofile": self.nofile, "workers": self.workers,
                "paths": list(self.paths), "env": dict(self.env)}

    def describe(self) -> str:
        nofile = self.nofile if self.nofile is not None else "engine default"
        return f"--cpus {self.cpus:g} --memory {self.memory} --nofile {nofile} --workers {self.workers}"
