"""``harness serve``: start a warm server (in the foreground, or ``--detach``ed), ``--status``,
``--stop``. Exit codes: 0 done, 1 no server to stop or ask, 2 it could not start (a one-line error).
Run by :mod:`harness.launch` (``harness.cli`` only lists it: the server runs ``harness.cli``)."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Sequence

from harness.errors import HarnessError
from harness.serve.client import ask, start_detached
from harness.serve.protocol import log_path, socket_path
from harness.serve.settings import OPTION, ServeSettings


def cmd_serve(args: argparse.Namespace) -> int:
    """Keep a stage warm for `harness t`: runs handed to this server skip the start-up and find their
    containers started (--detach: in the background; --status; --stop)."""
    given = {"serve_socket": args.socket or "", "serve_idle": args.idle or ""}
    try:
        settings = ServeSettings.from_sources(given)
        sock = socket_path(settings.serve_socket)
    except (ValueError, PermissionError) as exc:
        raise HarnessError(str(exc)) from None
    if args.status or args.stop:
        answer = ask(sock, "stop" if args.stop else "status")
        if answer is None:
            print(f"harness serve: no server listens at {sock}")
            return 1
        print(describe(answer) if args.status else f"harness serve: pid {answer.get('stopping')} stops "
              "(its containers and networks are removed)")
        return 0
    options = [*(["--socket", args.socket] if args.socket else []), *(["--idle", args.idle] if args.idle else [])]
    if args.detach:
        try:
            pid = start_detached(options, sock)
        except RuntimeError as exc:
            raise HarnessError(str(exc)) from None
        print(f"harness serve: pid {pid} listening at {sock}, warm (log: {log_path(sock)}); `harness t` hands "
              "its runs to it; `harness serve --stop` stops it")
        return 0
    from harness.serve.server import WarmServer

    return WarmServer(sock, settings.serve_idle, ["serve", *options], out=sys.stdout).serve()


def describe(status: dict[str, Any]) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(float(status.get("started", 0))))
    state = "running a run" if status.get("busy") else "idle"
    fresh = "" if status.get("fresh", True) else "; STALE: the install changed since it started (the next run replaces it)"
    runs = int(status.get("runs", 0))
    return (f"harness serve: pid {status.get('pid')} since {started}, {runs} run{'' if runs == 1 else 's'}, {state}, "
            f"{status.get('queued', 0)} waiting; session {status.get('session') or 'none yet'}; stops after "
            f"{float(status.get('idle_stop_s', 0)):.0f} s without a run{fresh}")


def main(argv: Sequence[str]) -> int:
    """``harness serve ARGV``."""
    p = argparse.ArgumentParser(prog="harness serve", description=cmd_serve.__doc__)
    action = p.add_mutually_exclusive_group()
    action.add_argument("--detach", action="store_true", help="start in the background; return once it listens, warm")
    action.add_argument("--status", action="store_true", help="say whether a server runs, since when, how many runs")
    action.add_argument("--stop", action="store_true", help="stop the server (it removes its containers and networks)")
    p.add_argument("--socket", default=None, help=f"{OPTION['serve_socket'].help} [env {OPTION['serve_socket'].env}]")
    p.add_argument("--idle", default=None, metavar="SECONDS",
                   help=f"{OPTION['serve_idle'].help} [env {OPTION['serve_idle'].env}, default {OPTION['serve_idle'].default}]")
    try:
        return cmd_serve(p.parse_args(list(argv)))
    except HarnessError as exc:
        print(f"harness: {exc.message}", file=sys.stderr)
        return 2
