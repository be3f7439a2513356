"""The one place the ``.t`` runner touches the harness's core: how a block's OpenResty is asked
for (its fixture, workers, log level, the suite mounted read-only at its own path, nginx running
in it), prepared ahead, and given back. Re-point this module when the core's API changes."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from harness.services import named_in

if TYPE_CHECKING:
    from harness.containers import OpenRestyContainer
    from harness.prefetch import OpenRestyPlan
    from harness.stage import Stage
    from harness.tnginx.block import TBlock


SYSTEM_DIRS = frozenset({"bin", "boot", "dev", "etc", "harness", "home", "lib", "lib32", "lib64", "libx32",
                         "media", "mnt", "opt", "proc", "root", "run", "sbin", "servroot", "srv", "sys", "tmp",
                         "usr", "var"})


class SuiteStage:
    """OpenResty containers for the blocks of one suite (one root) on ``stage``."""

    def __init__(self, stage: "Stage", root: Path, env: Optional[dict[str, str]] = None) -> None:
        self.stage = stage
        self.root = Path(root).resolve()
        self.env = dict(env or {})  # container env overrides (a run-wide fault's proxy address)
        self.mounts = ((str(self.root), str(self.root)), *beside_conf(self.root))

    def _args(self, block: "TBlock") -> dict[str, Any]:
        return {"workers": block.workers, "error_log_level": block.log_level, "mounts": self.mounts,
                "workdir": str(self.root), "env": {**block.env, **self.env}, "services": block.named_services,
                **({"reuse": False} if block.needs_fresh_master else {})}

    def plan(self, block: "TBlock") -> "OpenRestyPlan":
        return self.stage.plan(block.fixture, **self._args(block))

    def prepare(self, block: "TBlock") -> bool:
        """Have a container switched to ``block``'s config before it is asked for (HUP reuse only);
        False: the prefetcher has enough on its way, ask again later."""
        if self.stage.settings.reuse != "hup":
            return True
        return self.stage.prefetcher.want(self.plan(block))

    @staticmethod
    def allow_lanes(stage: "Stage", lanes: int) -> None:
        """``lanes`` blocks run at once: the pool may keep that many containers of a shape busy, and
        prepare the next ones besides."""
        stage.pool.allow_concurrent(lanes)

    def openresty(self, block: "TBlock") -> "OpenRestyContainer":
        nginx = self.stage.openresty(block.fixture, **self._args(block))
        if block.reloaded and nginx.generation == 1:  # started for it, not HUPed into it: as use_hup() would
            try:
                nginx.switch(block.fixture)
            except BaseException:
                self.release(nginx, reusable=False)
                raise
        return nginx

    def release(self, nginx: "OpenRestyContainer", reusable: bool = True) -> None:
        self.stage.release(nginx, reusable)

    @staticmethod
    def shares_data(block: "TBlock") -> bool:
        """Whether ``block``'s config names a session service whose data every block shares (Redis, memcached)."""
        return bool({"redis", "memcached"} & set(named_in("".join(block.fixture.snippets.values()))))

    def running_redis(self) -> Any:
        """The session's Redis if a block started it (leak checks count its clients), else None."""
        return self.stage.services.get("redis")

    @staticmethod
    def worker_pids(nginx: "OpenRestyContainer") -> Optional[set[int]]:
        """This generation's worker pids and the master's, from the process table (no request to the
        workers: a block's workers serve the block alone); None: unknown, keep every line."""
        try:
            table = nginx.workers()
        except Exception:  # noqa: BLE001 - the checks then see every line
            return None
        pids = {p.pid for p in table.workers}
        if not pids:
            return None
        master = table.master
        return pids | ({master.pid} if master is not None else set())


def beside_conf(root: Path) -> tuple[tuple[str, str], ...]:
    """Test::Nginx's config lives in t/servroot/conf, so a suite names its own files from there as
    ``../../cert/test.crt`` (the suite's t/cert). The harness's is /harness/conf, where ``../../`` is
    the container's root: each directory of t/ is mounted there too (read-only), unless the name is
    one of the system's own."""
    t = root / "t"
    if not t.is_dir():
        return ()
    return tuple((str(d), f"/{d.name}") for d in sorted(t.iterdir())
                 if d.is_dir() and d.name not in SYSTEM_DIRS and not d.name.startswith("."))
