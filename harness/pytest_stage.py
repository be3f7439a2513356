"""What the pytest plugins share: the run's :class:`~harness.runtime.HarnessRuntime` (in the
config's stash) and its stage, for the core plugin's fixtures and the front ends' items alike, and
how an :class:`~harness.settings.Option` becomes a pytest option and is read back."""
from __future__ import annotations

from typing import Any, Iterable, TypeVar

import pytest

from harness.errors import HarnessError
from harness.runtime import HarnessRuntime
from harness.settings import Option, OptionSettings
from harness.stage import Stage

RUNTIME = pytest.StashKey[HarnessRuntime]()
S = TypeVar("S", bound=OptionSettings)
SETTINGS = pytest.StashKey[dict[type[OptionSettings], OptionSettings]]()  # settings_of's, by class


def session_stage(config: pytest.Config) -> Stage:
    """The session's :class:`harness.stage.Stage`. Without an engine: skip, or fail when ``CI=true``."""
    runtime = config.stash[RUNTIME]
    try:
        stage = runtime.stage()
        runtime.probe_images()
        return stage
    except HarnessError as exc:
        if runtime.settings.ci:
            pytest.fail(f"{exc.message} (CI=true: integration tests never skip)", pytrace=False)
        pytest.skip(exc.message)


def add_options(parser: pytest.Parser, options: Iterable[Option], repeatable: frozenset[str] = frozenset()) -> None:
    """Each option as ``--flag`` (dest ``harness_NAME``) in the harness's group of ``pytest --help``;
    those named in ``repeatable`` may be given more than once."""
    group = parser.getgroup("openresty-harness")
    for opt in options:
        bare = {"nargs": "?", "const": opt.bare} if opt.bare else {}
        group.addoption(opt.flag, dest=f"harness_{opt.name}", default=None, **bare,
                        action="append" if opt.name in repeatable else "store",
                        choices=list(opt.choices) or None, help=f"{opt.help} [env {opt.env}, default {opt.default!r}]")


def given_options(config: pytest.Config, options: Iterable[Option]) -> dict[str, Any]:
    """The values given on the command line (None where not, or where the option's plugin was left
    out), by option name."""
    return {opt.name: config.getoption(f"harness_{opt.name}", None) for opt in options}


def settings_of(config: pytest.Config, cls: type[S]) -> S:
    """A plugin's settings (``cls``, its options added by :func:`add_options`) from the command line,
    the environment and the defaults, built once per run (any plugin may ask for another's); a bad
    value (an unknown choice, not a number) is a one-line usage error naming the variable and the flag."""
    built = config.stash.setdefault(SETTINGS, {})
    found = built.get(cls)
    if not isinstance(found, cls):
        try:
            found = built[cls] = cls.from_sources(given_options(config, cls.OPTIONS))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    return found
