"""The ``harness`` command's entry point. ``harness t`` first offers its run to a running ``harness
serve`` of this install (:mod:`harness.serve.client`: the standard library only, so a served run
starts in a few tens of milliseconds); ``harness serve`` goes to :mod:`harness.serve.cli`;
everything else, and a run no server takes, to :mod:`harness.cli` in this process."""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    from harness.serve.client import hand_over, servable

    if words[:1] == ["serve"]:
        from harness.serve.cli import main as serve

        return serve(words[1:])
    served = servable(words)
    if served:
        code = hand_over(words)
        if code is not None:
            return code
    from harness.cli import main as run

    code = run(words)
    if served and sys.stdout.isatty() and os.environ.get("CI", "").lower() != "true" and \
            os.environ.get("HARNESS_SERVE", "auto") == "auto":
        print("harness t: `harness serve --detach` keeps a stage warm: the next runs skip about 2 s of start-up")
    return code
