"""OpenRestyContainer: nginx + lua-nginx-module from a fixture, ``nginx -t`` first, ready by polling."""
from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional

import httpx

from harness.containers.agent import AgentLink, AgentUnavailable
from harness.containers.base import HarnessContainer, Reach
from harness.containers.control import ControlChannel
from harness.containers.readiness import GenerationReady
from harness.containers.transport import ContainerIO
from harness.errorlog import ErrorLog, HarnessLines, LogRead
from harness.errors import HarnessError, LuaSyntaxError, NginxConfigError, ReloadError
from harness.images.profiles import openresty_profile
from harness.images.resolver import ResolvedImage
from harness.engine import shares_files_with_host
from harness.nginx_conf import (ACTIVATE, COMPANION_PORT, CONFIG_ERROR_EXIT, COVERAGE_DIR, ROOT, WWW,
                                CONTROL_PORT, HTTP_PORT,
                                LUA_SYNTAX_EXIT, RELOAD_STUCK_EXIT, Fixture, RenderOptions, host_paths,
                                nginx_t_summary, write_bundle, write_generation)
from harness.openresty_spec import OpenRestySpec, Shape
from harness.session import CONFIG_DIR_PREFIX, HarnessSession
from harness.workers import WorkerTable, health

from harness.coverage.lines import exec_runner

if TYPE_CHECKING:
    from harness.coverage.run import CoverageRun

log = logging.getLogger(__name__)

READ_ONLY_PARTS = ("gen", "lualib", "bin")  # under /harness: what nothing in the container may change
AGENT_DIR = "ctl"  # under the host's config directory and /harness: the agent's FIFOs (read-only mount)


class OpenRestyContainer(HarnessContainer):
    """OpenResty (or its offline twin) serving a fixture on port 8080, built from an
    :class:`~harness.openresty_spec.OpenRestySpec` (a bare fixture: the default options).

    Tests get these from the ``openresty`` fixture or ``Stage.openresty`` (pooled, HUP-switched);
    building one by hand is for the harness's own tests::

        nginx = OpenRestyContainer(image, session, reach, OpenRestySpec.of(Fixture.load("hello", path), workers=2)).start()
        httpx.get(nginx.base_url + "/").text
    """

    kind = "openresty"
    alias = "openresty"
    # The master runs as root and its workers as nobody: SETUID/SETGID to switch, CHOWN for the
    # temp paths and reopened logs, KILL to signal workers (reloads, the harness's worker faults),
    # DAC_READ_SEARCH to list a worker's /proc/PID/fd for the worker table.
    capabilities = ("CHOWN", "SETUID", "SETGID", "KILL", "DAC_READ_SEARCH")

    def __init__(self, image: ResolvedImage, session: HarnessSession, reach: Reach, fixture: Fixture | OpenRestySpec) -> None:
        spec = fixture if isinstance(fixture, OpenRestySpec) else OpenRestySpec.of(fixture)
        # COMPANION_PORT: published too (where ports are), for a companion in its network namespace
        super().__init__(image, session, reach, (HTTP_PORT, CONTROL_PORT, COMPANION_PORT, *spec.ports))
        self.spec = spec  # what it runs: options and the fixture it started with
        self.profile = openresty_profile(image.labels)
        self.fixture = spec.fixture  # the fixture it serves now (a switch changes it)
        self.generation = 0
        self.identity: dict[str, Any] = {}  # what the control endpoint reported: jit, nginx, ngx_lua versions
        self.io = ContainerIO(self)  # reloads, process tables, log reads: the agent where there is one
        self.channel = ControlChannel(self, self.io)
        self.readiness = GenerationReady()  # when a started or switched generation serves
        self.handed_out_at = 0  # error.log offset at the hand-out
        self.log = ErrorLog(self)  # this hand-out's error.log, one cursor (see hand_out)
        self.mount_config: Optional[bool] = None  # None: bind-mount read-only where the engine shares our files
        self.config_dir: Optional[Path] = None  # the host directory behind the read-only mounts
        self.last_switch: dict[str, float] = {}  # milliseconds per step of the last switch (see switch)
        # when the master last loaded a config (monotonic): after a HUP it sleeps 100 ms with its
        # signals blocked, so a switch sooner than that waits for it (the pool picks the one longest awake)
        self.reloaded_at = 0.0
        self.harness_lines = HarnessLines()  # what the master logged because of our switches
        for key, value in spec.env.items():
            self.with_env(key, value)
        self.generation_log_start = 0  # error.log offset just before the current generation was loaded
        self.on_stop: list[Callable[[], None]] = []  # run first when it stops (its companion goes with it)
        self.coverage: Optional["CoverageRun"] = None  # counting Lua lines (with_coverage)
        self.generations: dict[int, Fixture] = {}  # with coverage: the fixture each generation ran

    def with_coverage(self, run: Optional["CoverageRun"]) -> "OpenRestyContainer":
        """Count the lines of the code ``run`` covers in every worker; the counts are gathered when the
        container is stopped (nginx stopped gracefully first, so every worker writes its last ones)."""
        self.coverage = run
        return self

    # ---- lifecycle ----------------------------------------------------------------------------
    def _render_options(self, spec: Optional[OpenRestySpec] = None, fixture: Optional[Fixture] = None,
                        generation: int = 1) -> RenderOptions:
        """How a generation is rendered: ``spec``'s workers and log level (default this container's)."""
        spec = spec or self.spec
        placeholders = {"HTTP_PORT": str(HTTP_PORT), "CONTROL_PORT": str(CONTROL_PORT),
                        **{k: str(v) for k, v in self.env.items()}}
        coverage: tuple[str, ...] = ()
        if self.coverage is not None:
            fixture = fixture or self.fixture
            self.generations[generation] = fixture
            coverage = self.coverage.patterns(fixture, spec.mounts, spec.workdir)
        return RenderOptions(workers=spec.workers, error_log_level=spec.error_log_level,
                             env_names=tuple(sorted(self.env)), placeholders=placeholders, coverage=coverage)

    def start(self) -> "OpenRestyContainer":
        self.generation = 1
        self.reloaded_at = time.monotonic()
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
                # www/ (the html directory): a writable mount, so a companion can bind unix sockets in it
                (self.config_dir / WWW).mkdir(mode=0o777, parents=True)
                (self.config_dir / WWW).chmod(0o777)
                self.with_volume_mapping(self.config_dir / WWW, f"{ROOT}/{WWW}", "rw")
                link = AgentLink.create(self.config_dir / AGENT_DIR)
                self.io.use_agent(link)
                if link is not None:
                    self.with_volume_mapping(self.config_dir / AGENT_DIR, f"{ROOT}/{AGENT_DIR}", "ro")
            else:  # no shared files: the whole tree is copied in (activate makes conf/, logs/, tmp/)
                self.with_copy_into_container(bundle, "/")
            for host, path in self.spec.mounts:
                self.with_volume_mapping(host, path, "ro")
            self.with_command([ACTIVATE, str(self.generation), "start"])
            self.with_kwargs(**self._kwargs, **self.spec.limits.docker_kwargs(), **({"init": True} if self.spec.init else {}),
                             **({"working_dir": self.spec.workdir} if self.spec.workdir else {}))
            super().start()
        self.identity = self.readiness.wait(self, self.generation, self.start_timeout, starting=True)
        return self

    def switch(self, fixture: Fixture, timeout: float = 15.0, spec: Optional[OpenRestySpec] = None) -> None:
        """Load another fixture into the running master with a HUP reload; with ``spec`` (of this
        container's shape), also its workers and error_log level.

        ``nginx -t`` checks the new generation first; if it fails, the old workers keep serving
        and :class:`NginxConfigError` carries the output. Returns once the new generation answers.
        """
        if spec is not None and spec.shape(self.resolved.id, self.env) != self.shape():
            raise HarnessError(f"{self.name}: a switch keeps the container's shape; {fixture.name!r} needs another one")
        generation = self.generation + 1
        options = self._render_options(spec, fixture, generation)
        log_start = self.error_log_size()
        steps: dict[str, float] = {}
        started = time.perf_counter()
        if self.config_dir is not None:  # the new generation appears in the read-only mount
            target = self.config_dir / "gen" / str(generation)
            shutil.rmtree(target, ignore_errors=True)  # left by a switch that nginx -t refused
            write_generation(target, fixture, self.profile, generation, options)
        else:
            with tempfile.TemporaryDirectory(prefix="harness-bundle-") as tmp:
                self.copy_into_container(write_bundle(Path(tmp), fixture, self.profile, generation, options), "/")
        steps["bundle"] = (time.perf_counter() - started) * 1000
        code, output = self._activate(generation, timeout, steps)
        self.reloaded_at = time.monotonic()
        retired = next((ln.split()[1:] for ln in output.splitlines() if ln.startswith("retired ")), [])
        if code == 0 and len(retired) > 1 and all(p.isdigit() for p in retired):
            # the master logs their exit after the switch returned: its lines, not the next test's
            self.harness_lines = replace(self.harness_lines, retired=self.harness_lines.retired | {
                (int(retired[0]), int(pid)) for pid in retired[1:]})
        if code in (CONFIG_ERROR_EXIT, LUA_SYNTAX_EXIT):
            raise self._config_error(fixture, generation, output, "(the old configuration keeps serving)",
                                     lua=code == LUA_SYNTAX_EXIT)
        if code == RELOAD_STUCK_EXIT:
            raise ReloadError(f"HUP reload of {self.name}: old workers kept accepting for 10 s: is one hung?",
                              output + "\n" + self.workers().format())
        if code != 0:
            raise ReloadError(f"HUP reload of {self.name} failed (exit {code}): is the master alive?", output)
        self.fixture = fixture
        if spec is not None:
            self.spec = spec
        ready = time.perf_counter()
        if not self.is_quiet():  # a quiet fixture's workers get no request of ours: the agent saw them start
            self.identity = self.readiness.wait(self, generation, timeout, starting=False)
        steps["ready"] = (time.perf_counter() - ready) * 1000
        steps["total"] = (time.perf_counter() - started) * 1000
        self.generation = generation
        self.generation_log_start = log_start
        self.last_switch = steps

    def _activate(self, generation: int, timeout: float, steps: dict[str, float]) -> tuple[int, str]:
        """Make ``generation`` current by HUP: through the agent, else ``activate`` through the engine.
        Records the transport's and the agent's steps in ``steps`` (milliseconds)."""
        started = time.perf_counter()
        try:
            via, reply = self.io.reload(generation, timeout)
        except AgentUnavailable as exc:  # it may have sent the HUP: one through the engine could overlap it
            raise ReloadError(f"HUP reload of {self.name}: the agent did not answer within "
                              f"{timeout:.0f}s: is the master alive?", str(exc)) from None
        numbers = dict(reply.numbers)
        if "log_from" in numbers:  # the master's lines about a rejected reload: ours, not the test's
            rejected = (int(numbers.pop("log_from")), int(numbers.pop("log_to")), int(numbers.pop("master")))
            self.harness_lines = replace(self.harness_lines, rejected=(*self.harness_lines.rejected, rejected))
        steps.update({f"agent.{k}": v for k, v in numbers.items()})
        steps["activate"] = (time.perf_counter() - started) * 1000
        if via == "engine":
            steps["exec"] = steps["activate"]
        return reply.code, reply.output

    def _config_error(self, fixture: Fixture, generation: int, output: str, suffix: str = "",
                      lua: bool = False) -> NginxConfigError:
        text = host_paths(output.strip(), fixture, generation)
        if lua:
            first = text.splitlines()[0] if text else "no output"
            return LuaSyntaxError(f"Lua syntax error in fixture {fixture.name!r}: {first.replace('luajit: ', '')} "
                                  f"{suffix}".rstrip(), text)
        summary = nginx_t_summary(text)
        return NginxConfigError(f"nginx -t rejected fixture {fixture.name!r}: {summary} {suffix}".rstrip(), text)

    def complete_identity(self) -> bool:
        """After a quiet start (see :class:`~harness.containers.readiness.GenerationReady`), ask the workers for what only Lua
        reports (LuaJIT's and ngx_lua's versions); for when the test is over and the next one gets
        new workers. Whether :attr:`identity` changed (not when it was complete, or the control
        server did not answer)."""
        if "jit" in self.identity:
            return False
        try:
            info = self.channel.status(timeout=1.0)
        except httpx.HTTPError:
            return False
        if info is None:
            return False
        self.identity = {**self.identity, **info}
        return True

    def raise_exited(self, state: dict[str, Any]) -> NoReturn:
        """Raise what made the container exit before it was ready (a config error, else its exit code)."""
        code = state.get("ExitCode")
        logs = self.logs_text()
        if code in (CONFIG_ERROR_EXIT, LUA_SYNTAX_EXIT):
            raise self._config_error(self.fixture, self.generation, logs, lua=code == LUA_SYNTAX_EXIT)
        tail = self.error_log_tail()
        emerg = re.search(r"\[emerg\] \d+#\d+: (.*)", tail)
        cause = f" ({emerg.group(1).strip()})" if emerg else ""
        raise HarnessError(f"{self.name} exited with code {code} before it was ready{cause}: see error.log "
                           f"and the container output below", logs + "\n" + tail)

    # ---- observation ----------------------------------------------------------------------------
    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self.coverage is not None and self._container is not None:
            self.gather_coverage()
        while self.on_stop:
            self.on_stop.pop()()
        self.channel.close()
        self.io.close()
        try:
            super().stop(force, delete_volume)
        finally:
            if self.config_dir is not None:
                shutil.rmtree(self.config_dir, ignore_errors=True)
                self.config_dir = None

    def gather_coverage(self, timeout: float = 5.0) -> None:
        """Stop nginx gracefully (QUIT: each worker writes its counts as it exits), then hand the
        counts to the run. A worker that does not exit within ``timeout`` loses what it counted since
        its last periodic write; nothing here fails the test."""
        assert self.coverage is not None
        container = self.get_wrapped_container()
        try:  # the code lines of the files seen so far, by this image's LuaJIT (once per file text)
            self.coverage.measure(exec_runner(self.copy_into_container, self.sh, self.profile.luajit_bin,
                                              f"{ROOT}/tmp"))
        except Exception as exc:  # noqa: BLE001 - the stage measures what is left at its end
            log.info("coverage: no code lines measured in %s: %s", self.name, exc)
        try:
            container.kill(signal="SIGQUIT")
            container.wait(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - the counts written so far are still read
            log.info("coverage: %s did not stop gracefully: %s", self.name, exc)
        try:
            stream, _ = container.get_archive(COVERAGE_DIR)
            self.coverage.harvest(b"".join(stream), self.generations, self.spec.mounts, self.spec.workdir)
        except Exception as exc:  # noqa: BLE001
            log.warning("coverage: no counts from %s: %s", self.name, exc)

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
        """error.log from byte ``since`` (see :meth:`ControlChannel.read_error_log`); the master's
        lines about reloads it rejected are marked hidden (see :class:`~harness.errorlog.LogRead`)."""
        if self.is_quiet():
            # settled by the agent: the workers back in their event loops (no Lua of ours in them)
            settled = self.io.idle(settle) if settle is not None else ""
            chunk = self.io.read_log(since)
            if chunk is not None:
                return LogRead(chunk.text, chunk.start, settled, chunk.end, hidden=self.harness_lines)
        read = self.channel.read_error_log(since, settle)
        return replace(read, hidden=self.harness_lines)

    def is_quiet(self) -> bool:
        """A quiet fixture (no harness Lua in its workers) with the agent at hand: the harness's reads
        of this generation go through the agent, none to the workers' control server."""
        return self.fixture.quiet and self.io.via == "agent"

    def read_log_file(self, since: int = 0, name: Optional[str] = None) -> Optional[str]:
        """error.log (or ``name``, a plain file name in nginx's logs directory: "" while it does not
        exist) from byte ``since``, read inside the container by the agent, else through the engine:
        for when the control server does not answer (hung workers), and for a suite's own log files.
        None: it could not be read."""
        chunk = self.io.read_log(since, name)
        return chunk.text if chunk is not None else None

    def error_log_size(self) -> int:
        """The current length of error.log in bytes (where a cursor set now would start)."""
        if self.is_quiet():
            size = self.io.log_size()
            if size is not None:
                return size
        return self.channel.error_log_size()

    def settle(self, timeout: float = 2.0) -> None:
        """Return once every worker has finished what it was doing now (log phases included), so
        numbers a log phase writes (metrics, say) are complete. Raises if a worker stays busy."""
        status = self.channel.settle(timeout)
        if status.startswith("busy"):
            raise HarnessError(f"{self.name}: workers {status[5:]} did not get back to their event loop within "
                               f"{timeout:.1f}s (blocked?)", self.workers().format())

    def hand_out(self) -> ErrorLog:
        """A new :attr:`log` whose cursor is the end of error.log now: what the pool does when it
        hands this container to a test or a scenario."""
        self.handed_out_at = self.error_log_size()
        self.log = ErrorLog(self, since=self.handed_out_at)
        return self.log

    def log_since_hand_out(self) -> ErrorLog:
        """A second view of error.log from the hand-out on, whatever :attr:`log`'s cursor did since
        (the log-problem check and failure reports read it)."""
        return ErrorLog(self, since=self.handed_out_at)

    def error_log(self, since: Optional[int] = None, settle: bool = True) -> str:
        """error.log text from byte ``since`` (default: :attr:`log`'s cursor) to its end, after the
        workers settled (see :class:`harness.errorlog.ErrorLog`)."""
        if since is None:
            return self.log.text(settle=settle)
        return self.read_error_log(since, settle=2.0 if settle else None).text

    def error_log_tail(self, lines: int = 20) -> str:
        text = self.read_error_log(0).text
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of error.log ---\n{tail}" if tail else ""

    def workers(self, interval: Optional[float] = None) -> WorkerTable:
        """Snapshot of the nginx processes; with ``interval`` (seconds), two snapshots that far apart
        in one exec, and CPU % per process over that interval."""
        retired = {pid for _, pid in self.harness_lines.retired}  # their zombies are ours, not the test's
        if interval is None:
            return WorkerTable.parse(self.io.procs()).without_zombies(retired)
        first, second = self.io.procs_over(interval)
        return WorkerTable.parse(second).with_cpu_since(WorkerTable.parse(first)).without_zombies(retired)

    @property
    def cpu_quota(self) -> Optional[float]:
        """CPUs the container may use (``--cpus``), None when unlimited."""
        host = self.get_wrapped_container().attrs["HostConfig"]
        if host.get("NanoCpus"):
            return float(host["NanoCpus"]) / 1e9
        if host.get("CpuQuota") and host.get("CpuPeriod"):
            return float(host["CpuQuota"]) / float(host["CpuPeriod"])
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
        """The current generation answers on the control port (so the container runs): one request,
        no engine call."""
        if self.is_quiet():
            reply = self.io.ask_agent("procs")
            if reply is not None:
                return bool(WorkerTable.parse(reply.output).workers)
        try:
            return self.channel.serves(self.generation)  # a stopped container does not answer
        except Exception:  # noqa: BLE001
            return False

    def running(self) -> bool:
        """Whether the container runs: its control server answers (one request), else the engine says."""
        try:
            if self.channel.status(timeout=0.25) is not None:
                return True
        except Exception:  # noqa: BLE001 - hung workers or gone: ask the engine
            pass
        try:
            return bool(self.state().get("Running"))
        except Exception:  # noqa: BLE001
            return False

    def shape(self) -> Shape:
        """What must match for a running container to be reused with another config (the pool's key)."""
        return self.spec.shape(self.resolved.id, self.env)
