"""OpenRestyContainer: nginx + lua-nginx-module from a fixture, ``nginx -t`` first, ready by polling."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

import httpx
from docker.types import Ulimit

from harness.containers.base import HarnessContainer, Reach
from harness.errorlog import ErrorLog, LogRead
from harness.errors import HarnessError, LuaSyntaxError, NginxConfigError, ReadinessTimeout, ReloadError
from harness.images.profiles import openresty_profile
from harness.images.resolver import ResolvedImage
from harness.engine import shares_files_with_host
from harness.nginx_conf import (ACTIVATE, CONFIG_ERROR_EXIT, ROOT, CONTROL_PATH, CONTROL_PORT, ERROR_LOG, HTTP_PORT,
                                LOG_PATH, LUA_SYNTAX_EXIT, RELOAD_STUCK_EXIT, Fixture, RenderOptions, host_paths, write_bundle)
from harness.session import CONFIG_DIR_PREFIX, HarnessSession
from harness.waiting import wait_for
from harness.workers import PROC_LISTING, WorkerTable, health


READ_ONLY_PARTS = ("gen", "lualib", "bin")  # under /harness: what nothing in the container may change


@dataclass(frozen=True)
class Limits:
    """Resource limits of the container (None: engine default)."""

    memory: Optional[str] = None  # "256m"
    cpus: Optional[float] = None
    nofile: Optional[int] = None

    def docker_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.memory:
            kw["mem_limit"] = self.memory
            kw["memswap_limit"] = self.memory
        if self.cpus:
            kw["nano_cpus"] = int(self.cpus * 1e9)
        if self.nofile:
            kw["ulimits"] = [Ulimit(name="nofile", soft=self.nofile, hard=self.nofile)]
        return kw


class OpenRestyContainer(HarnessContainer):
    """OpenResty (or its offline twin) serving a fixture on port 8080.

    >>> nginx = OpenRestyContainer(image, session, reach, Fixture.load("hello", path)).with_workers(2).start()
    >>> httpx.get(nginx.base_url + "/").text
    """

    kind = "openresty"
    alias = "openresty"
    # The master runs as root and its workers as nobody: SETUID/SETGID to switch, CHOWN for the
    # temp paths and reopened logs, KILL to signal workers (reloads, the harness's worker faults),
    # DAC_READ_SEARCH to list a worker's /proc/PID/fd for the worker table.
    capabilities = ("CHOWN", "SETUID", "SETGID", "KILL", "DAC_READ_SEARCH")

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, fixture: Fixture,
                 extra_ports: tuple[int, ...] = ()) -> None:
        super().__init__(image, session, reach, (HTTP_PORT, CONTROL_PORT, *extra_ports))
        self.profile = openresty_profile(image.labels)
        self.fixture = fixture
        self.generation = 0
        self.render = RenderOptions()
        self.limits = Limits()
        self.start_timeout = 30.0
        self.identity: dict[str, Any] = {}  # what the control endpoint reported: jit, nginx, ngx_lua versions
        self.log_mark = 0  # error.log offset where the current test's view begins
        self._control: Optional[httpx.Client] = None
        self.single_use = False  # started with reuse=False: removed after its test, never pooled
        self.init = False
        self.mount_config: Optional[bool] = None  # None: bind-mount read-only where the engine shares our files
        self.config_dir: Optional[Path] = None  # the host directory behind the read-only mounts
        self.mounts: tuple[tuple[str, str], ...] = ()  # extra read-only bind mounts (host, container path)
        self.workdir = ""  # nginx's working directory (relative Lua paths resolve from it); empty: /
        self.generation_log_start = 0  # error.log offset just before the current generation was loaded

    # ---- fluent configuration -----------------------------------------------------------------
    def with_workers(self, workers: int | str) -> "OpenRestyContainer":
        self.render = replace(self.render, workers=workers)
        return self

    def with_error_log_level(self, level: str) -> "OpenRestyContainer":
        self.render = replace(self.render, error_log_level=level)
        return self

    def with_placeholders(self, **values: str) -> "OpenRestyContainer":
        self.render = replace(self.render, placeholders={**self.render.placeholders, **values})
        return self

    def with_limits(self, memory: Optional[str] = None, cpus: Optional[float] = None,
                    nofile: Optional[int] = None) -> "OpenRestyContainer":
        self.limits = Limits(memory=memory, cpus=cpus, nofile=nofile)
        return self

    def with_read_only_mount(self, host: str, path: str) -> "OpenRestyContainer":
        """Bind-mount the host directory ``host`` read-only at ``path`` (a test suite's own Lua, say)."""
        self.mounts = (*self.mounts, (str(host), path))
        self.with_volume_mapping(host, path, "ro")
        return self

    def with_workdir(self, path: str) -> "OpenRestyContainer":
        """Run nginx in ``path``, so relative paths in the config (``./lib/?.lua``) resolve from there."""
        self.workdir = path
        return self

    def with_start_timeout(self, seconds: float) -> "OpenRestyContainer":
        self.start_timeout = seconds
        return self

    # ---- lifecycle ----------------------------------------------------------------------------
    def _render_options(self) -> RenderOptions:
        placeholders = {"HTTP_PORT": str(HTTP_PORT), "CONTROL_PORT": str(CONTROL_PORT),
                        **{k: str(v) for k, v in self.env.items()}, **self.render.placeholders}
        return replace(self.render, env_names=tuple(sorted(self.env)), placeholders=placeholders)

    def start(self) -> "OpenRestyContainer":
        self.generation = 1
        with tempfile.TemporaryDirectory(prefix="harness-bundle-") as tmp:
            bundle = write_bundle(Path(tmp), self.fixture, self.profile, self.generation, self._render_options())
            if self.mount_config is None:
                self.mount_config = shares_files_with_host(self.get_docker_client().client)
            if self.mount_config:
                # The fixture's config and Lua (gen/), the harness's Lua and scripts: read-only
                # bind mounts of a host directory; conf/, logs/ and tmp/ stay writable in the container.
                self.config_dir = Path(tempfile.mkdtemp(prefix=f"{CONFIG_DIR_PREFIX}{self.session.id}-"))
                for part in READ_ONLY_PARTS:
                    shutil.move(str(bundle / part), str(self.config_dir / part))
                    self.with_volume_mapping(self.config_dir / part, f"{ROOT}/{part}", "ro")
            self.with_copy_into_container(bundle, "/")
            self.with_command([ACTIVATE, str(self.generation), "start"])
            self.with_kwargs(**self._kwargs, **self.limits.docker_kwargs(), **({"init": True} if self.init else {}),
                             **({"working_dir": self.workdir} if self.workdir else {}))
            super().start()
        self._await_generation(self.generation, self.start_timeout, starting=True)
        return self

    def switch(self, fixture: Fixture, timeout: float = 15.0) -> None:
        """Load another fixture into the running master with a HUP reload.

        ``nginx -t`` checks the new generation first; if it fails, the old workers keep serving
        and :class:`NginxConfigError` carries the output. Returns once the new generation answers.
        """
        generation = self.generation + 1
        log_start = self.error_log_size()
        with tempfile.TemporaryDirectory(prefix="harness-bundle-") as tmp:
            bundle = write_bundle(Path(tmp), fixture, self.profile, generation, self._render_options())
            if self.config_dir is not None:  # the new generation appears in the read-only mount
                target = self.config_dir / "gen" / str(generation)
                shutil.rmtree(target, ignore_errors=True)  # left by a switch that nginx -t refused
                shutil.copytree(bundle / "gen" / str(generation), target)
            else:
                self.copy_into_container(bundle, "/")
        code, output = self.sh(f"{ACTIVATE} {generation} reload")
        if code in (CONFIG_ERROR_EXIT, LUA_SYNTAX_EXIT):
            raise self._config_error(fixture, generation, output, "(the old configuration keeps serving)",
                                     lua=code == LUA_SYNTAX_EXIT)
        if code == RELOAD_STUCK_EXIT:
            raise ReloadError(f"HUP reload of {self.name}: old workers kept accepting for 10 s: is one hung?",
                              output + "\n" + self.workers().format())
        if code != 0:
            raise ReloadError(f"HUP reload of {self.name} failed (exit {code}): is the master alive?", output)
        self.fixture = fixture
        self._await_generation(generation, timeout, starting=False)
        self.generation = generation
        self.generation_log_start = log_start

    def with_init(self, init: bool = True) -> "OpenRestyContainer":
        """Run an init (the engine's docker-init) as PID 1, so the nginx master is an ordinary
        process: needed for a binary upgrade, whose old master must be able to exit."""
        self.init = init
        return self

    def _config_error(self, fixture: Fixture, generation: int, output: str, suffix: str = "",
                      lua: bool = False) -> NginxConfigError:
        text = host_paths(output.strip(), fixture, generation)
        if lua:
            first = text.splitlines()[0] if text else "no output"
            return LuaSyntaxError(f"Lua syntax error in fixture {fixture.name!r}: {first.replace('luajit: ', '')} "
                                  f"{suffix}".rstrip(), text)
        first = next((ln for ln in text.splitlines() if "[emerg]" in ln or "[error]" in ln or "[alert]" in ln),
                     text.splitlines()[0] if text else "no output")
        return NginxConfigError(f"nginx -t rejected fixture {fixture.name!r}: {first.strip()} {suffix}".rstrip(),
                                text)

    def _await_generation(self, generation: int, timeout: float, starting: bool) -> None:
        host, port = self.endpoint(CONTROL_PORT)
        url = f"http://{host}:{port}{CONTROL_PATH}"

        def probe() -> Optional[dict[str, Any]]:
            if starting:
                state = self.state()
                if state.get("Status") in ("exited", "dead"):
                    self._raise_exited(state)
            response = self.control.get(url, timeout=1.0, headers={"Connection": "close"})
            if response.status_code != 200:
                return None
            info = response.json()
            return info if info.get("generation") == generation else None

        def explain() -> str:
            hint = ("if the address itself is unreachable from here, try HARNESS_REACH=published"
                    if self.reach.mode == "direct" else "")
            output = "\n".join(self.logs_text().splitlines()[-20:])
            return "\n".join(x for x in (hint, self.error_log_tail(),
                                         f"--- container output ---\n{output}" if output else "") if x)

        what = f"{self.name} to serve config generation {generation} at {url}"
        # An answer from the new generation means one of its workers accepts connections.
        try:
            self.identity = wait_for(probe, timeout=timeout, what=what, on_timeout=explain,
                                     interval=0.02, max_interval=0.2)
        except ReadinessTimeout as exc:
            raise ReadinessTimeout(f"{exc.message}: is a worker stuck in init_worker_by_lua or a blocking "
                                   f"call? see error.log and the container output below, or raise "
                                   f"HARNESS_START_TIMEOUT", exc.detail) from None

    def _raise_exited(self, state: dict) -> None:
        code = state.get("ExitCode")
        logs = self.logs_text()
        if code in (CONFIG_ERROR_EXIT, LUA_SYNTAX_EXIT):
            raise self._config_error(self.fixture, self.generation, logs, lua=code == LUA_SYNTAX_EXIT)
        tail = self.error_log_tail()
        emerg = re.search(r"\[emerg\] \d+#\d+: (.*)", tail)
        cause = f" ({emerg.group(1).strip()})" if emerg else ""
        raise HarnessError(f"{self.name} exited with code {code} before it was ready{cause}: see error.log "
                           f"and the container output below", logs + "\n" + tail)

    # ---- observation --------------------------------------------------------------------------
    @property
    def control(self) -> httpx.Client:
        """The harness's own client for the control server (kept: a new httpx client costs ~15 ms)."""
        if self._control is None:
            self._control = httpx.Client(timeout=2.0)
        return self._control

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        try:
            super().stop(force, delete_volume)
        finally:
            if self.config_dir is not None:
                shutil.rmtree(self.config_dir, ignore_errors=True)
                self.config_dir = None

    @property
    def base_url(self) -> str:
        host, port = self.endpoint(HTTP_PORT)
        return f"http://{host}:{port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """A new ``httpx.Client`` bound to :attr:`base_url` (close it, or use it in ``with``)."""
        return httpx.Client(base_url=self.base_url, **kwargs)

    def url(self, port: int, path: str = "/") -> str:
        host, mapped = self.endpoint(port)
        return f"http://{host}:{mapped}{path}"

    def read_error_log(self, since: int = 0, settle: Optional[float] = None) -> LogRead:
        """error.log from byte ``since``, read through the control server (milliseconds), or through
        the engine when the control server does not answer (workers hung, container stopped).
        With ``settle`` (seconds), first wait until every worker finished what it was doing."""
        try:
            params = {"since": since, **({"settle": settle} if settle is not None else {})}
            r = self.control.get(self.url(CONTROL_PORT, LOG_PATH), params=params, timeout=(settle or 0) + 2.0)
            if r.status_code == 200:
                start = int(r.headers.get("X-Harness-Log-From", since))
                if start < since:
                    self.log_mark = 0  # rotated: offsets of the old file mean nothing in the new one
                return LogRead(r.content.decode(errors="replace"), start, r.headers.get("X-Harness-Settled", ""),
                               start + len(r.content))
        except httpx.HTTPError:
            pass
        try:
            if self.state().get("Running"):
                code, out = self.sh(f"tail -c +{since + 1} {ERROR_LOG}")
                return LogRead(out if code == 0 else "", since, "unreachable")
            # stopped: nothing more will be written, so the read is as settled as it gets
            return LogRead(self.read_file(ERROR_LOG)[since:].decode(errors="replace"), since, "stopped")
        except Exception:  # noqa: BLE001 - used in failure reports; never mask the original error
            return LogRead("", since, "unreachable")

    def error_log_size(self) -> int:
        """The current length of error.log in bytes (where a cursor set now would start)."""
        try:
            r = self.control.get(self.url(CONTROL_PORT, LOG_PATH), params={"size": 1}, timeout=2.0)
            if r.status_code == 200 and "X-Harness-Log-End" in r.headers:
                return int(r.headers["X-Harness-Log-End"])
        except httpx.HTTPError:
            pass
        code, out = self.sh(f"wc -c < {ERROR_LOG}")
        return int(out.strip()) if code == 0 and out.strip().isdigit() else 0

    def settle(self, timeout: float = 2.0) -> None:
        """Return once every worker has finished what it was doing now (log phases included), so
        numbers a log phase writes (metrics, say) are complete. Raises if a worker stays busy."""
        status = self.read_error_log(self.error_log_size(), settle=timeout).settled
        if status.startswith("busy"):
            raise HarnessError(f"{self.name}: workers {status[5:]} did not get back to their event loop within "
                               f"{timeout:.1f}s (blocked?)", self.workers().format())

    def mark_error_log(self) -> int:
        """Start the current test's view of error.log here; return the offset."""
        self.log_mark = self.error_log_size()
        return self.log_mark

    def error_log(self, since: Optional[int] = None, settle: bool = True) -> str:
        """error.log text from byte ``since`` (default: the mark set at handout) to its end, after
        the workers settled (see :class:`harness.errorlog.ErrorLog`)."""
        return self.read_error_log(self.log_mark if since is None else since, settle=2.0 if settle else None).text

    @property
    def log(self) -> "ErrorLog":
        """An :class:`~harness.errorlog.ErrorLog` from the current mark: ``nginx.log.assert_logged(...)``."""
        return ErrorLog(self)

    def error_log_tail(self, lines: int = 20) -> str:
        text = self.read_error_log(0).text
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of error.log ---\n{tail}" if tail else ""

    def workers(self, interval: Optional[float] = None) -> WorkerTable:
        """Snapshot of the nginx processes; with ``interval`` (seconds), two snapshots that far apart
        in one exec, and CPU % per process over that interval."""
        if interval is None:
            return WorkerTable.parse(self.sh(PROC_LISTING)[1])
        out = self.sh(f"{PROC_LISTING}\necho '--- second'\nsleep {interval:.3f}\n{PROC_LISTING}")[1]
        first, _, second = out.partition("--- second\n")
        return WorkerTable.parse(second).with_cpu_since(WorkerTable.parse(first))

    @property
    def cpu_quota(self) -> Optional[float]:
        """CPUs the container may use (``--cpus``), None when unlimited."""
        host = self.get_wrapped_container().attrs["HostConfig"]
        if host.get("NanoCpus"):
            return host["NanoCpus"] / 1e9
        if host.get("CpuQuota") and host.get("CpuPeriod"):
            return host["CpuQuota"] / host["CpuPeriod"]
        return None

    def health(self, interval: float = 0.5) -> list[str]:
        """Problems by the catalogue's thresholds (RSS, FDs vs nofile, stuck or stopped workers,
        zombies, workers vs CPU quota), measured over ``interval`` seconds."""
        return health(self.workers(interval), cpu_quota=self.cpu_quota)

    def assert_healthy(self, interval: float = 0.5) -> None:
        table = self.workers(interval)
        problems = health(table, cpu_quota=self.cpu_quota)
        if problems:
            raise AssertionError(f"{self.name} is unhealthy: " + "; ".join(problems) + "\n" + table.format())

    def nginx_version(self) -> str:
        """``nginx -V`` of the binary in this container."""
        return self.sh(f"{self.profile.nginx_bin} -V 2>&1")[1].strip()

    def healthy(self) -> bool:
        """Running, and the current generation answers on the control port."""
        try:
            if not self.state().get("Running"):
                return False
            host, port = self.endpoint(CONTROL_PORT)
            r = self.control.get(f"http://{host}:{port}{CONTROL_PATH}", timeout=2.0, headers={"Connection": "close"})
            return r.status_code == 200 and json.loads(r.text).get("generation") == self.generation
        except Exception:  # noqa: BLE001
            return False

    def shape(self) -> tuple:
        """What must match for a running container to be reused with another config."""
        return (self.resolved.id, str(self.render.workers), self.render.error_log_level,
                tuple(sorted(self.env.items())), self.limits, self.service_ports, self.init, self.mounts, self.workdir)


def shape_of(image: ResolvedImage, workers: int | str, error_log_level: str, env: Mapping[str, str],
             limits: Limits, extra_ports: tuple[int, ...], init: bool = False,
             mounts: tuple[tuple[str, str], ...] = (), workdir: str = "") -> tuple:
    """The :meth:`OpenRestyContainer.shape` a container built from these arguments would have."""
    return (image.id, str(workers), error_log_level, tuple(sorted(env.items())), limits,
            (HTTP_PORT, CONTROL_PORT, *extra_ports), init, tuple(mounts), workdir)
