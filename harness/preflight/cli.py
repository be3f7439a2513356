"""``harness preflight --app DIR``: the checks as a table, the JSON under reports/preflight/.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 the preflight could not run
(from ``harness.cli.main``: a one-line error naming the fix)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.preflight.settings import OPTION, PreflightSettings
from harness.settings import Settings

FLAGS = {"cpus": "--cpus", "memory": "--memory", "nofile": "--nofile", "workers": "--workers"}


def cmd_preflight(args: argparse.Namespace) -> int:
    """Check an app before its first request: config, modules, native libraries, shared dicts,
    workers and memory under the limits, lint, blocking calls (exit 0 ok/warn, 1 a fail, 2 could not run)."""
    from harness.preflight.options import PreflightOptions
    from harness.preflight.preflight import Preflight
    from harness.stage import Stage

    settings = Settings.from_sources()
    options = PreflightOptions.resolve(PreflightSettings.from_sources(), **{name: getattr(args, name) for name in FLAGS},
                                       paths=args.paths or None, env=args.env)
    app = Path(args.app)
    if not app.is_dir():
        raise HarnessError(f"--app {args.app}: no such directory; pass an app directory with server.conf or http.conf")
    with Stage.open(settings, rootdir=Path.cwd()) as stage:
        report = Preflight(stage, options, image=args.image or "").run(app)
    print(report.format())
    path = report.write_json(Path(args.out) if args.out else None, settings.reports_dir)
    verdict = "no check failed" if report.exit_code == 0 else "a check failed"
    print(f"written {path} (exit {report.exit_code}: {verdict})")
    return report.exit_code


def add_parser(sub: Any) -> None:
    """Register ``preflight`` on the ``harness`` command; limits default to HARNESS_PREFLIGHT_*."""
    p = sub.add_parser("preflight", help=cmd_preflight.__doc__)
    p.add_argument("--app", required=True, help="the app directory (server.conf / http.conf / main.conf + lua/)")
    p.add_argument("--image", help="OpenResty image (default: official, else the offline twin)")
    for name, flag in FLAGS.items():
        opt = OPTION[f"preflight_{name}"]
        p.add_argument(flag, dest=name, default=None,
                       help=f"{opt.help.split(': ', 1)[-1]} [env {opt.env}, default {opt.default or 'none'}]")
    p.add_argument("--path", dest="paths", action="append", default=[],
                   help="path requested during the warm-up before worker memory is read (repeatable; default /)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="the app's environment, also ${NAME} in its config (repeatable)")
    p.add_argument("-o", "--out", help="report JSON (default reports/preflight/<app>-<time>.json)")
    p.set_defaults(func=cmd_preflight)
