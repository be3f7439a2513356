"""Core configuration: ``HARNESS_*`` environment variables and matching pytest options.

Each :class:`Option` is read from the pytest command line first, then the environment, then its
default. The core's options are :data:`OPTIONS`; each front end and feature keeps its own beside
the code that reads them (``harness.scenarios.settings``, ``harness.tnginx.settings``,
``harness.preflight.settings``, ``harness.perf.settings``), each a :class:`OptionSettings` over its
own :class:`Option` s. ``docs/configuration.md`` is generated from all of them (``harness options``,
:mod:`harness.configuration`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal, Mapping, Optional, TypeVar, get_args

Pull = Literal["auto", "never"]
ReachChoice = Literal["auto", "direct", "published"]
Reuse = Literal["hup", "fresh"]
AllowDiff = Literal["off", "on"]  # matrix runs: off, a test passing on one image and failing on another fails the run
Twin = Literal["trixie", "bookworm"]  # the Debian releases with an offline OpenResty recipe, default first

from harness.resources import fixtures_dir


@dataclass(frozen=True)
class Option:
    name: str  # attribute on its settings object
    env: str
    flag: str
    default: str
    help: str
    choices: tuple[str, ...] = ()
    bare: str = ""  # the value of the flag given alone (``--flag``, no ``=VALUE``); empty: a value is required


OPTIONS: tuple[Option, ...] = (
    Option("openresty_image", "HARNESS_OPENRESTY_IMAGE", "--openresty-image", "",
           "OpenResty image to test with (a reference, or twin:trixie / twin:bookworm: that offline twin, built "
           "on first use); empty: official image, else the offline build. pytest: given twice or more, a matrix "
           "(see HARNESS_MATRIX)"),
    Option("matrix", "HARNESS_MATRIX", "--harness-matrix", "",
           "comma-separated OpenResty images (references or twin:NAME): every pytest test that starts OpenResty "
           "runs once per image (id [image]), then a compatibility table (reports/matrix.txt, .json, .xml: a "
           "JUnit suite per image); empty: no matrix"),
    Option("allow_diff", "HARNESS_ALLOW_DIFF", "--harness-allow-diff", "off",
           "matrix runs: a test that passes on one image and fails on another is only reported (on), or fails "
           "the run (off)", get_args(AllowDiff)),
    Option("redis_image", "HARNESS_REDIS_IMAGE", "--redis-image", "",
           "Redis image; empty: official image, else the offline build"),
    Option("tools_image", "HARNESS_TOOLS_IMAGE", "--tools-image", "",
           "image for the harness's sidecars (DNS server, fault proxy); empty: official python, else offline"),
    Option("twin", "HARNESS_TWIN", "--harness-twin", "trixie",
           "the Debian release the offline OpenResty twin is built from, where the official image is not "
           "available: trixie (Debian 13: nginx 1.26, ngx_lua 0.10.28, the bundled modules) or bookworm "
           "(Debian 12: nginx 1.22, ngx_lua 0.10.23); the Redis and tools twins always come from trixie",
           get_args(Twin)),
    Option("pull", "HARNESS_PULL", "--harness-pull", "auto",
           "try to pull official images when they are missing (auto) or never", get_args(Pull)),
    Option("reach", "HARNESS_REACH", "--harness-reach", "auto",
           "how the host reaches containers: their own address (direct), ports published on "
           "127.0.0.1 (published), or detect (auto)", get_args(ReachChoice)),
    Option("reuse", "HARNESS_REUSE", "--harness-reuse", "hup",
           "between tests, keep a running OpenResty of the same shape and switch config by HUP "
           "reload (hup) or always start a fresh container (fresh)", get_args(Reuse)),
    Option("start_timeout", "HARNESS_START_TIMEOUT", "--harness-start-timeout", "30",
           "seconds a container may take to become ready"),
    Option("http_timeout", "HARNESS_HTTP_TIMEOUT", "--harness-http-timeout", "10",
           "seconds, default timeout of the http fixture's requests"),
    Option("fixtures_dir", "HARNESS_FIXTURES_DIR", "--fixtures-dir", "",
           "where fixture names are looked up; empty: ./nginx-fixtures, then the harness's own"),
    Option("reports_dir", "HARNESS_REPORTS_DIR", "--harness-reports-dir", "reports",
           "where run records (images used, benchmarks) are written"),
    Option("coverage", "HARNESS_COVERAGE", "--harness-coverage", "",
           "Lua line coverage of the code under test (every worker of every container; LCOV and HTML under "
           "<reports>/coverage/): `on` (the flag alone) covers each fixture's/app's lua/ and a `.t` suite's lib/; "
           "or comma-separated files and directories; empty: off", bare="on"),
    Option("coverage_min", "HARNESS_COVERAGE_MIN", "--harness-coverage-min", "0",
           "with --harness-coverage: fail the run when the total line coverage is below this many per cent"),
)
OPTION: dict[str, Option] = {opt.name: opt for opt in OPTIONS}  # by name, for front ends that show one


def read_options(options: Iterable[Option], types: Mapping[str, object], cli: Optional[Mapping[str, Any]] = None,
                 environ: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Each option's value: the pytest option (``cli``, keyed by name) if given, else its environment
    variable, else its default; converted to ``float``/``int`` where ``types`` (name: the settings
    field's annotation) says so. A bad choice or number: a ValueError naming the variable and flag."""
    environ = os.environ if environ is None else environ
    cli = cli or {}
    values: dict[str, Any] = {}
    for opt in options:
        raw = cli.get(opt.name)
        if raw is None or raw == "":
            raw = environ.get(opt.env, opt.default)
        raw = str(raw)
        if opt.choices and raw not in opt.choices:
            raise ValueError(f"{opt.env}{'/' + opt.flag if opt.flag else ''}={raw!r}: choose one of {', '.join(opt.choices)}")
        kind = types[opt.name]
        try:
            values[opt.name] = (float(raw) if kind in ("float", float) else int(raw) if kind in ("int", int)
                                else raw)
        except ValueError:
            raise ValueError(f"{opt.env}{'/' + opt.flag if opt.flag else ''}={raw!r}: give a number") from None
    return values


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


S = TypeVar("S", bound="OptionSettings")


@dataclass(frozen=True)
class OptionSettings:
    """A settings object: one field per option of its :attr:`OPTIONS` (same name; the option holds
    the default and the doc), read by :meth:`from_sources`. The core's :class:`Settings` and each
    front end's or feature's settings derive from it."""

    OPTIONS: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def from_sources(cls: type[S], cli: Optional[Mapping[str, Any]] = None,
                     environ: Optional[Mapping[str, str]] = None) -> S:
        """Merge pytest option values (``cli``, keyed by attribute name), environment, defaults."""
        environ = os.environ if environ is None else environ
        values = read_options(cls.OPTIONS, {f.name: f.type for f in fields(cls)}, cli, environ)
        return cls(**values, **cls.beside_options(environ))

    @classmethod
    def beside_options(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Fields that are not options of the harness, by name (the core's: ``CI``)."""
        return {}


@dataclass(frozen=True)
class Settings(OptionSettings):
    """Resolved core configuration. Build with :meth:`from_sources` (the defaults are the options')."""

    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    openresty_image: str
    matrix: str
    allow_diff: AllowDiff
    redis_image: str
    tools_image: str
    twin: Twin
    pull: Pull
    reach: ReachChoice
    reuse: Reuse
    start_timeout: float
    http_timeout: float
    fixtures_dir: str
    reports_dir: str
    coverage: str
    coverage_min: float
    ci: bool = field(default=False)

    @classmethod
    def beside_options(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        return {"ci": _truthy(environ.get("CI", ""))}

    @property
    def may_pull(self) -> bool:
        """Whether missing images may be pulled (``HARNESS_PULL=auto``)."""
        return self.pull == "auto"

    @property
    def reuses(self) -> bool:
        """Whether OpenResty containers are reused by HUP reload between tests (``HARNESS_REUSE=hup``)."""
        return self.reuse == "hup"

    def fixture_search_path(self, rootdir: Optional[Path] = None) -> list[Path]:
        """Directories where a fixture name is looked up, first match wins."""
        paths: list[Path] = []
        if self.fixtures_dir:
            paths.append(Path(self.fixtures_dir))
        paths.append((rootdir or Path.cwd()) / "nginx-fixtures")
        paths.append(fixtures_dir())
        unique: list[Path] = []
        for p in paths:
            if p.resolve() not in [u.resolve() for u in unique]:
                unique.append(p)
        return unique


def options_markdown(options: Iterable[Option]) -> str:
    """The configuration table of ``options`` as Markdown (for docs/configuration.md)."""
    rows = ["| environment | flag | default | meaning |", "|---|---|---|---|"]
    for opt in options:
        choices = f" ({' / '.join(opt.choices)})" if opt.choices else ""
        flag = f"`{opt.flag}`" if opt.flag else ""
        rows.append(f"| `{opt.env}` | {flag} | `{opt.default}` | {opt.help}{choices} |")
    rows.append("| `CI` | | | `true`: integration tests fail instead of skipping when no engine or image is available |")
    return "\n".join(rows) + "\n"
