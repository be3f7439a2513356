"""The one place the ``.t`` runner touches the harness's core: how a block's OpenResty is asked
for (its fixture, workers, log level, the suite mounted read-only at its own path, nginx running
in it), prepared ahead, and given back. Re-point this module when the core's API changes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from harness.containers.redis import REDIS_PORT
from harness.errors import HarnessError
from harness.nginx_conf import ABSOLUTE_FILES, PLACEHOLDER, ROOT, WWW
from harness.service_options import LocalLayout, users_of
from harness.services import SERVICES, LocalPort, declare, name_of, named_in, options_of
from harness.tnginx.hostpaths import named_host_dirs

if TYPE_CHECKING:
    from harness.containers import CompanionContainer, OpenRestyContainer
    from harness.prefetch import OpenRestyPlan
    from harness.stage import Stage
    from harness.tnginx.block import TBlock


@dataclass(frozen=True)
class Forward(LocalPort):
    """A port a Test::Nginx suite looks for on 127.0.0.1, as a service declares it (``ServiceDef.local``),
    with the session service behind it."""

    service: str = ""

    @property
    def key(self) -> str:
        """The companion's name for the forward (the service's, for its one address)."""
        return self.service if self.address.endswith("_HOST") and not self.alias else f"{self.service}:{self.var}"


# every declared service's 127.0.0.1 ports: a new service plugs in by its ServiceDef alone
LOCAL_PORTS = tuple(Forward(p.var, p.address, p.index, p.alias, service=d.name)
                    for d in SERVICES.values() for p in d.local)


def local_vars(service: str, address: str) -> tuple[str, ...]:
    """The variables of ``service``'s own ports at ``address`` (no alias), in their declared order."""
    return tuple(f.var for f in LOCAL_PORTS if f.service == service and f.address == address and not f.alias)

# a file that names a topology's ports finds that topology's master at TEST_NGINX_REDIS_PORT
MASTER_OF = {"redis_sentinel": "REDIS_SENTINEL_MASTER"}
# ... and in a local layout each node at its own port, whatever its role now (as Sentinel names it)
NODES_OF = {"redis_sentinel": "REDIS_SENTINEL_NODES"}
DATA_SERVICES = frozenset({"redis", "memcached", *MASTER_OF})  # every block shares their data
LOCAL_NAMES = ("127.0.0.1", "localhost")
SOCKET_VAR = "TEST_NGINX_REDIS_SOCKET"  # a unix socket of the single Redis, shared into OpenResty

SERVROOT = "servroot"  # Test::Nginx's server root under t/ (and t/servroot_PID: see beside_conf)
SYSTEM_DIRS = frozenset({"bin", "boot", "dev", "etc", "harness", "home", "lib", "lib32", "lib64", "libx32",
                         "media", "mnt", "opt", "proc", "root", "run", "sbin", "servroot", "srv", "sys", "tmp",
                         "usr", "var"})


def looks_local(text: str) -> bool:
    """Whether a config may look for a service on 127.0.0.1: it names a local address, or names no
    service host at all (a client library's default host is 127.0.0.1: ``connector.new{port = 6380}``)."""
    return any(name in text for name in LOCAL_NAMES) or re.search(r"\$\{[A-Z0-9_]*_HOST\}", text) is None


def _number(test_env: Mapping[str, str], var: str) -> Optional[int]:
    value = str(test_env.get(var, "")).strip()
    return int(value) if value.isdigit() else None


def socket_path(test_env: Mapping[str, str], text: str) -> str:
    """The unix socket path the file's ``TEST_NGINX_REDIS_SOCKET`` names (``unix:/p``, ``unix://p``,
    or a path) when ``text`` uses it; else empty."""
    value = str(test_env.get(SOCKET_VAR, "")).strip()
    if not value or value not in text:
        return ""
    path = value.removeprefix("unix:")
    return "/" + path.lstrip("/") if path else ""


def services_of(text: str, test_env: Mapping[str, str]) -> set[str]:
    """The session services a config uses: those whose placeholders it names (``${REDIS_PORT}``), and
    those it looks for on 127.0.0.1 at the port the file set (``TEST_NGINX_REDIS_PORT=6380``,
    ``TEST_NGINX_SENTINEL_PORT1=6390``) or on the unix socket it set (``TEST_NGINX_REDIS_SOCKET``)."""
    used = set(named_in(text))
    if looks_local(text):
        used |= {p.service for p in LOCAL_PORTS
                 if str(test_env.get(p.var, "")).strip().isdigit() and str(test_env[p.var]).strip() in text}
        used |= {p.service for p in LOCAL_PORTS if re.search(rf"\b{p.var}\b", text)}  # read by name (os.getenv)
    if socket_path(test_env, text):
        used.add("redis")
    return used


def local_layout(test_env: Mapping[str, str]) -> Optional[LocalLayout]:
    """The 127.0.0.1 layout the file's variables give: the master at ``TEST_NGINX_REDIS_PORT``, replicas
    at ``..._SL1``, ``..._SL2``, Sentinels at ``TEST_NGINX_SENTINEL_PORT1..3`` (those set, in order); None
    unless a replica and a Sentinel are set to numbers. A master port left to the harness
    (``${REDIS_PORT}``) is Redis's own, 6379, which the placeholder gives."""
    (master_var,) = local_vars("redis", "REDIS_HOST")
    master = _number(test_env, master_var)
    if master is None and str(test_env.get(master_var, "")).startswith("${"):
        master = REDIS_PORT
    replicas = tuple(p for p in (_number(test_env, v) for v in local_vars("redis_sentinel", "REDIS_SENTINEL_REPLICAS"))
                     if p is not None)
    sentinels = tuple(p for p in (_number(test_env, v) for v in local_vars("redis_sentinel", "REDIS_SENTINELS"))
                      if p is not None)
    if master is None or not replicas or not sentinels:
        return None
    try:
        return LocalLayout(master, replicas, sentinels)
    except HarnessError:
        return None  # the same port twice: no layout (the topology's own addresses, as before)


def declared_services(blocks: Iterable[tuple[str, Mapping[str, str]]], redis_users: str = "",
                      sentinel_users: str = "") -> tuple[str, ...]:
    """The service keys a file's blocks (``(config text, test_env)``) declare: the services they use
    (:func:`services_of`), the Sentinel topology laid out on the file's 127.0.0.1 ports
    (:func:`local_layout`), the single Redis with the file's unix socket, and the ACL users given."""
    blocks = list(blocks)
    names: set[str] = set().union(*(services_of(text, env) for text, env in blocks)) if blocks else set()
    env: dict[str, str] = {}
    for _, block_env in blocks:
        env.update({k: v for k, v in block_env.items() if k not in env})
    text = "".join(t for t, _ in blocks)
    keys = []
    for name in sorted(names):
        given: dict[str, Any] = {}
        if name in ("redis", "redis_sentinel") and redis_users:
            given["users"] = users_of(redis_users)
        if name == "redis":
            socket = socket_path(env, text)
            if socket:
                given["socket"] = socket
        if name == "redis_sentinel":
            layout = local_layout(env)
            if layout is not None:
                given.update(layout=layout, replicas=len(layout.replicas), sentinels=len(layout.sentinels),
                             quorum=len(layout.sentinels) // 2 + 1)
            if sentinel_users:
                given["sentinel_users"] = users_of(sentinel_users)
        keys.append(declare(name, given))
    return tuple(keys)


def address_of(env: Mapping[str, str], variable: str, index: int = 0) -> Optional[tuple[str, int]]:
    """``(host, port)`` from a service's env: ``NAME_HOST`` with ``NAME_PORT``, or item ``index`` of a
    list ``ip:port,...``; None when the env has no such address."""
    if variable.endswith("_HOST"):
        host, port = env.get(variable), env.get(f"{variable[:-5]}_PORT")
        return (host, int(port)) if host and port and port.isdigit() else None
    items = [i for i in env.get(variable, "").split(",") if i]
    if index >= len(items):
        return None
    host, _, port = items[index].rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


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
        self._named: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}  # config texts -> named_host_dirs

    def mounts_for(self, block: "TBlock") -> tuple[tuple[str, str], ...]:
        """The suite's mounts, and the host directories ``block``'s config names by absolute path
        (nginx opens them on the host under prove: see :mod:`harness.tnginx.hostpaths`)."""
        texts = tuple(block.fixture.snippets.values())
        named = self._named.get(texts)
        if named is None:  # a block is planned several times, and a file's blocks share their http_config
            named = self._named[texts] = named_host_dirs(texts, mounted=[path for _, path in self.mounts])
        return (*self.mounts, *named, *self.socket_mounts(block))

    def socket_mounts(self, block: "TBlock") -> tuple[tuple[str, str], ...]:
        """The directory of each declared service's unix socket, at the path the file names."""
        out = []
        for key in block.named_services:
            if getattr(options_of(key), "socket", ""):
                mount = getattr(self.stage.services.use(key), "socket_mount", lambda: None)()
                if mount is not None:
                    out.append(mount)
        return tuple(out)

    def block_env(self, block: "TBlock") -> dict[str, str]:
        """The environment ``block``'s ``env NAME;`` lines pass on, a service's placeholder
        (``${MEMCACHED_PORT}``) filled with the service's value (not declared: left out)."""
        if not any("${" in value for value in block.env.values()):
            return dict(block.env)
        services = self.stage.services.env(block.named_services)
        out = {}
        for name, value in block.env.items():
            filled = PLACEHOLDER.sub(lambda m: services.get(m.group(1), m.group(0)), value)
            if "${" not in filled:
                out[name] = filled
        return out

    def _args(self, block: "TBlock") -> dict[str, Any]:
        # the block's server port is reached at the container's own address; published only where the
        # engine's containers are not reachable so (it is then part of the container's shape)
        ports = {"ports": (block.fixture.port,)} if self.stage.reach_mode == "published" else {}
        return {**ports, "workers": block.workers, "error_log_level": block.log_level, "mounts": self.mounts_for(block),
                "workdir": str(self.root), "env": {**self.block_env(block), **self.env}, "services": block.named_services,
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
        try:
            if block.reloaded and nginx.generation == 1:  # started for it, not HUPed into it: as use_hup() would
                nginx.switch(block.fixture)
            elif self.starts_without_its_services(nginx, block):
                nginx.switch(block.fixture)  # its workers start again, the services there now
        except BaseException:
            self.release(nginx, reusable=False)
            raise
        return nginx

    def starts_without_its_services(self, nginx: "OpenRestyContainer", block: "TBlock") -> bool:
        """Whether ``block``'s workers, busy with its services at their start (init_worker_by_lua: a
        timer that connects to memcached at 127.0.0.1), started before the companion forwarded them
        (a fresh container, or one that forwarded others): the forwards are set now."""
        if not block.works_at_start:
            return False
        local = self.local_services(block)
        return bool(local) and self.forward(nginx, local)

    def local_services(self, block: "TBlock") -> dict[str, tuple[int, str, int]]:
        """The forwards ``block`` uses, ``key: (port on 127.0.0.1, host, port)``: its config names a local
        address and a port of :data:`LOCAL_PORTS`, as the number the file (or its environment) set the
        variable to, or as the harness's placeholder (``${REDIS_PORT}``: the service's own port). When
        the file declares a topology of :data:`MASTER_OF`, its master is the one behind the Redis port."""
        text = block.code
        if not looks_local(text):
            return {}
        env = {**self.stage.services.env(block.named_services), **self.env}
        names = {name_of(key) for key in block.named_services}
        topology = next((t for t in MASTER_OF if t in names), None)
        laid_out = topology is not None and NODES_OF[topology] in env
        out = {}
        for port in LOCAL_PORTS:
            # laid out, every member's port is live on 127.0.0.1, as under the Makefile: Sentinel hands
            # out addresses the block never names (the master at 127.0.0.1:6380 for a block naming 6390)
            always = laid_out and not port.alias and port.service in (topology, "redis")
            if port.service not in names and not always:
                continue
            if topology and port.service == "redis":  # the topology's master (laid out: the master port's node)
                target = address_of(env, NODES_OF[topology]) if laid_out else address_of(env, MASTER_OF[topology])
            elif laid_out and port.address == "REDIS_SENTINEL_REPLICAS":
                target = address_of(env, NODES_OF["redis_sentinel"], port.index + 1)
            else:
                target = address_of(env, port.address, port.index)
            if target is None:
                continue
            value = str(block.test_env.get(port.var, "")).strip()
            if value.isdigit():  # the file (or its environment) gave the port itself
                if value in text or always:
                    out[port.key] = (int(value), *target)
            elif always or (not port.alias and (f"${{{port.service.upper()}_" in text
                                                or re.search(rf"\b{port.var}\b", text))):
                out[port.key] = (target[1], *target)  # the placeholder's value: the service's own port
        return out

    def companion(self, nginx: "OpenRestyContainer", block: "TBlock") -> "Optional[CompanionContainer]":
        """The companion of ``nginx`` with the forwards ``block`` uses, when it has mock peers, looks
        for a service on 127.0.0.1 or sends its requests from there; else None (no companion is started)."""
        local = self.local_services(block)
        if not local and not block.peers and not block.local_client:
            return None
        self.forward(nginx, local)
        return self.stage.companion(nginx)

    def forward(self, nginx: "OpenRestyContainer", local: "dict[str, tuple[int, str, int]]") -> bool:
        """Have the companion of ``nginx`` forward ``local`` too; whether it did not already."""
        companion = self.stage.companion(nginx)
        return companion.set_forwards({**{k: v for k, v in companion.forwards.items() if k not in local}, **local})

    @staticmethod
    def rewrite_user_files(nginx: "OpenRestyContainer", block: "TBlock") -> None:
        """Write ``block``'s user files again, over what the last repetition left (files it made stay),
        as Test::Nginx does before each repetition after the first: a request that moved or removed
        one finds it again. Into the html directory the engine shares with this host where it does,
        else (and for files at absolute paths) by a copy in the container."""
        html = [rel[len("html/"):] for rel in block.fixture.files if rel.startswith("html/")]
        absolute = any(rel.startswith(f"{ABSOLUTE_FILES}/") for rel in block.fixture.files)
        copy = []
        if nginx.config_dir is not None:  # as the generation holds them (placeholders filled)
            written = nginx.config_dir / "gen" / str(nginx.generation) / "fixture" / "html"
            www = nginx.config_dir / WWW
            for rel in html:
                path = www / rel
                for parent in reversed([p for p in path.parents if www in p.parents]):
                    if not parent.exists():
                        parent.mkdir(mode=0o777)
                        parent.chmod(0o777)
                path.write_bytes((written / rel).read_bytes())
                path.chmod(0o666)
        elif html:
            copy.append(f"cp -R {ROOT}/gen/{nginx.generation}/fixture/html/. {ROOT}/{WWW}/")
        if absolute:
            copy.append(f"cp -R {ROOT}/gen/{nginx.generation}/fixture/{ABSOLUTE_FILES}/. /")
        if copy:
            code, out = nginx.sh(" && ".join(copy))
            if code != 0:
                raise HarnessError(f"{nginx.name}: cannot write the block's user files again: {out.strip()}")

    def release(self, nginx: "OpenRestyContainer", reusable: bool = True) -> None:
        self.stage.release(nginx, reusable)

    @staticmethod
    def shares_data(block: "TBlock") -> bool:
        """Whether ``block``'s config uses a session service whose data every block shares (Redis, memcached,
        a Redis topology), by its placeholders or its 127.0.0.1 ports."""
        return bool(DATA_SERVICES & services_of(block.code, block.test_env))

    def running_redis(self) -> Any:
        """The session's Redis if a block started it (leak checks count its clients), else None."""
        return self.stage.services.get("redis")

    @staticmethod
    def worker_pids(nginx: "OpenRestyContainer") -> Optional[set[int]]:
        """This generation's worker pids, its helper processes' (cache manager and loader, privileged
        agent: they log too, as under Test::Nginx) and the master's, from the process table (no request
        to the workers: a block's workers serve the block alone); None: unknown, keep every line."""
        try:
            table = nginx.workers()
        except Exception:  # noqa: BLE001 - the checks then see every line
            return None
        pids = {p.pid for p in table.workers}
        if not pids:
            return None
        masters = {p.pid for p in table.masters}
        master = next((p for p in table.masters if p.ppid not in masters), None)  # a child not named yet reads "master"
        if master is None:
            return pids
        helpers = {p.pid for p in table.processes if p.ppid == master.pid and p.role != "shutting-down"}
        return pids | helpers | {master.pid}


def beside_conf(root: Path) -> tuple[tuple[str, str], ...]:
    """Test::Nginx's config lives in t/servroot/conf, so a suite names its own files from there as
    ``../../cert/test.crt`` (the suite's t/cert). The harness's is /harness/conf, where ``../../`` is
    the container's root: each directory of t/ is mounted there too (read-only), unless the name is
    one of the system's own or a server root Test::Nginx left there (``t/servroot``, and ``t/servroot_PID``
    of a suite that sets ``TEST_NGINX_SERVROOT`` per process: a hundred of them after as many prove runs)."""
    t = root / "t"
    if not t.is_dir():
        return ()
    return tuple((str(d), f"/{d.name}") for d in sorted(t.iterdir())
                 if d.is_dir() and d.name not in SYSTEM_DIRS and not d.name.startswith((".", SERVROOT)))
