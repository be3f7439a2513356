"""The one place the ``.t`` runner touches the harness's core: how a block's OpenResty is asked
for (its fixture, workers, log level, the suite mounted read-only at its own path, nginx running
in it), prepared ahead, and given back. Re-point this module when the core's API changes."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from harness.services import named_in

if TYPE_CHECKING:
    from harness.containers import CompanionContainer, OpenRestyContainer
    from harness.prefetch import OpenRestyPlan
    from harness.stage import Stage
    from harness.tnginx.block import TBlock


# Services Test::Nginx suites look for on 127.0.0.1: name -> the variable that gives the port. The
# companion forwards 127.0.0.1:PORT to the session's service of that name (its address from the
# stage's service env, NAME_HOST / NAME_PORT, or from a run-wide fault's proxy).
LOCAL_SERVICES = {"redis": "TEST_NGINX_REDIS_PORT", "memcached": "TEST_NGINX_MEMCACHED_PORT"}
LOCAL_NAMES = ("127.0.0.1", "localhost")

SYSTEM_DIRS = frozenset({"bin", "boot", "dev", "etc", "harness", "home", "lib", "lib32", "lib64", "libx32",
                         "media", "mnt", "opt", "proc", "root", "run", "sbin", "servroot", "srv", "sys", "tmp",
                         "usr", "var"})


def services_of(text: str, test_env: Mapping[str, str]) -> set[str]:
    """The session services a config uses: those whose placeholders it names (``${REDIS_PORT}``), and
    those it looks for on 127.0.0.1 at the port the file set (``TEST_NGINX_REDIS_PORT=6380``)."""
    used = set(named_in(text))
    if any(name in text for name in LOCAL_NAMES):
        used |= {name for name, var in LOCAL_SERVICES.items()
                 if str(test_env.get(var, "")).strip().isdigit() and str(test_env[var]).strip() in text}
    return used


class SuiteStage:
    """OpenResty containers for the blocks of one suite (one root) on ``stage``."""

    def __init__(self, stage: "Stage", root: Path, env: Optional[dict[str, str]] = None,
                 extra_mounts: tuple[tuple[str, str], ...] = ()) -> None:
        self.stage = stage
        self.root = Path(root).resolve()
        # container env overrides (a run-wide fault's proxy address, LUA_PATH / LUA_CPATH)
        self.env = dict(env or {})
        # read-only: the suite, its t/ directories beside the config, its Lua dependencies
        self.mounts = ((str(self.root), str(self.root)), *beside_conf(self.root), *extra_mounts)

    def _args(self, block: "TBlock") -> dict[str, Any]:
        return {"workers": block.workers, "error_log_level": block.log_level, "mounts": self.mounts,
                "workdir": str(self.root), "env": {**block.env, **self.env}, "services": block.named_services,
                **({"reuse": False} if block.needs_fresh_master else {})}

    def plan(self, block: "TBlock") -> "OpenRestyPlan[OpenRestyContainer]":
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

    def forwards(self, block: "TBlock") -> dict[str, tuple[int, str, int]]:
        """Every service of LOCAL_SERVICES that ``block`` declares as ``name: (port on 127.0.0.1, host, port)``, the
        local port being the service's own (what the harness's ``${NAME_PORT}`` placeholder renders to)."""
        env = {**self.stage.services.env(block.named_services), **self.env}
        out = {}
        for name in LOCAL_SERVICES:
            host, port = env.get(f"{name.upper()}_HOST"), env.get(f"{name.upper()}_PORT")
            if host and port:
                out[name] = (int(port), host, int(port))
        return out

    def local_services(self, block: "TBlock") -> dict[str, tuple[int, str, int]]:
        """The forwards ``block`` uses: its config names a local address and the service's port, as
        the harness's placeholder or as the number the file (or its environment) set the variable to."""
        text = "".join(block.fixture.snippets.values())
        if not any(name in text for name in LOCAL_NAMES):
            return {}
        out = {}
        for name, host_port in self.forwards(block).items():
            value = str(block.test_env.get(LOCAL_SERVICES[name], "")).strip()
            if value.isdigit():  # the file (or its environment) gave the port itself
                if value in text:
                    out[name] = (int(value), *host_port[1:])
            elif f"${{{name.upper()}_" in text:
                out[name] = host_port
        return out

    def companion(self, nginx: "OpenRestyContainer", block: "TBlock") -> "Optional[CompanionContainer]":
        """The companion of ``nginx`` with the forwards ``block`` uses, when it has mock peers or
        looks for a service on 127.0.0.1; else None (no companion is started)."""
        local = self.local_services(block)
        if not local and not block.peers:
            return None
        companion = self.stage.companion(nginx)
        companion.set_forwards({**{k: v for k, v in companion.forwards.items() if k not in local}, **local})
        return companion

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
