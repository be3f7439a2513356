"""A read ``.t`` file's blocks as the harness runs them: each block built from its sections, named
as pytest names it (``TEST 3: title``, a repeated title numbered), with why it is skipped (``---
ONLY``/``SKIP``/``LAST``), and the session services the file's configs name declared for every one
of its blocks (one container shape for the whole file). Shared by pytest's collection
(:mod:`harness.tnginx.items`) and ``harness t --watch`` (:mod:`harness.tnginx.watch`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.tnginx.adapter import declared_services
from harness.tnginx.block import TBlock, build_block
from harness.tnginx.load import TFile, perl_true, selected


@dataclass(frozen=True)
class FileBlock:
    name: str  # unique in its file: "TEST 3: title", "TEST 3: title [2]"
    block: TBlock
    skip: str  # why it does not run ("" when it runs)


def file_blocks(tfile: TFile, redis_users: str = "", sentinel_users: str = "") -> list[FileBlock]:
    """Every selected block of ``tfile``, in the file's order; ``redis_users``/``sentinel_users``: the
    ACL users given for the services it declares (``--harness-redis-users``, ``--harness-sentinel-users``)."""
    s = tfile.settings
    seen: dict[str, int] = {}
    built: list[FileBlock] = []
    for raw, why in selected(tfile.blocks):
        block = build_block(raw, repeats=tfile.repeat_each, log_level=str(s.get("log_level") or "debug"),
                            workers=int(s.get("workers") or 1), no_root_location=s.get("no_root_location") == "1",
                            env_to_nginx=list(s.get("env_to_nginx") or []),
                            label=f"{Path(tfile.path).stem}-{raw.number}",
                            environment=dict(s.get("environment") or {}), use_hup=s.get("use_hup") == "1",
                            server_port=tfile.server_port, accum_log=perl_true(s.get("check_accum_error_log")))
        name = raw.name or f"block {raw.number}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} [{seen[name]}]"
        built.append(FileBlock(name, block, why))
    services = declared_services(((b.block.code, b.block.test_env) for b in built), redis_users, sentinel_users)
    return [dataclasses.replace(b, block=dataclasses.replace(b.block, named_services=services, source=str(tfile.path)))
            for b in built]
