"""``Preflight``: run every check on one app before it takes traffic and return a typed report.

    with Stage.open() as stage:
        report = Preflight(stage, PreflightOptions.resolve(workers="auto", cpus=1)).run("nginx-fixtures/hello")
        print(report.format()); report.write_json()

The app's image starts twice, briefly: a probe (``nginx -t``, module resolution, ``ldd``) and the
app itself under the limits (workers, memory, open files after a warm-up); luacheck runs in the
tools image (or on this host). Static scans (shared dicts, blocking calls) need no container.
"""
from __future__ import annotations

import re
import shlex
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from harness.containers.openresty import OpenRestyContainer
from harness.errors import HarnessError, LuaSyntaxError, NginxConfigError
from harness.images.resolver import ResolvedImage
from harness.nginx_conf import CONTROL_PORT, HTTP_PORT, Fixture, RenderOptions, write_bundle
from harness.images.profiles import openresty_profile
from harness.preflight.image_checks import GENERATION, ImageChecks, sections, write_probe_files
from harness.preflight.lint import LUACHECK_ARGS, Runner, check_lint, host_runner
from harness.preflight.options import PreflightOptions
from harness.preflight.probe import ProbeContainer
from harness.preflight.report import CHECKS, CheckResult, Finding, PreflightReport, Verdict
from harness.preflight.runtime_checks import (check_connections, check_memory, check_start, check_workers, not_run,
                                              sample)
from harness.preflight.source import AppSource
from harness.preflight.static_checks import check_blocking, check_shared_dicts

if TYPE_CHECKING:
    from harness.stage import Stage

WORKER_CONNECTIONS = re.compile(r"^\s*worker_connections\s+(\d+)\s*;", re.MULTILINE)
NO_LUACHECK = 127
THREAD_DEADLINE_S = 120
NCPU = "getconf _NPROCESSORS_ONLN 2>/dev/null || nproc"  # what worker_processes auto counts


class Preflight:
    """The checks of ``harness preflight`` on ``stage``'s engine; ``image``: an OpenResty image
    reference instead of the session's."""

    def __init__(self, stage: "Stage", options: Optional[PreflightOptions] = None, image: str = "") -> None:
        self.stage = stage
        self.options = options or PreflightOptions.resolve()
        self.image = image

    def run(self, app: str | Path | Fixture) -> PreflightReport:
        started = time.perf_counter()
        fixture = self.stage.fixture(app)
        source = AppSource.read(fixture)
        image = self.stage.openresty_image(self.image)
        report = PreflightReport(str(fixture.source or fixture.name),
                                 f"{image.ref} ({image.source}, profile {image.profile})", self.options.as_dict())
        results: dict[str, CheckResult] = {}
        with tempfile.TemporaryDirectory(prefix="harness-preflight-") as tmp:
            # luacheck and the app under its limits run beside the image probe (each its own container)
            threads = [threading.Thread(target=self._lint, args=(source, Path(tmp) / "lint", results), daemon=True),
                       threading.Thread(target=self._runtime_into, args=(fixture, image, Path(tmp) / "run", results),
                                        daemon=True)]
            for thread in threads:
                thread.start()
            results.update(self._timed(lambda: self._image_checks(source, fixture, image, Path(tmp) / "probe")))
            for check in (check_shared_dicts, check_blocking):
                results.update(self._timed(lambda: {c.name: c for c in [check(source)]}))
            for thread in threads:
                thread.join(timeout=THREAD_DEADLINE_S)
            if results["config"].verdict == Verdict.FAIL:
                results.update({c.name: c for c in not_run("nginx -t fails (see config)")})
        for name in CHECKS:
            if name not in results:
                results[name] = CheckResult(name, Verdict.SKIP, f"did not finish within {THREAD_DEADLINE_S} s")
        report.checks = [results[name] for name in CHECKS]
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _timed(run: Callable[[], dict[str, CheckResult]]) -> dict[str, CheckResult]:
        started = time.perf_counter()
        out = run()
        spent = time.perf_counter() - started  # the step's time, on each check it produced
        return {name: CheckResult(c.name, c.verdict, c.summary, c.findings, c.detail, spent) for name, c in out.items()}

    def _env(self) -> dict[str, str]:
        """The app's environment: the session's services (Redis, DNS) if running, then ``options.env``."""
        return {**self.stage.services.running_env(), **dict(self.options.env)}

    # ---- the image: nginx -t, modules, ldd ---------------------------------------------------
    def _render(self, fixture: Fixture, image: ResolvedImage, dest: Path) -> Path:
        env = self._env()
        placeholders = {"HTTP_PORT": str(HTTP_PORT), "CONTROL_PORT": str(CONTROL_PORT), **env}
        options = RenderOptions(workers=self.options.workers, env_names=tuple(sorted(env)), placeholders=placeholders)
        return write_bundle(dest, fixture, openresty_profile(image.labels), GENERATION, options)

    def _image_checks(self, source: AppSource, fixture: Fixture, image: ResolvedImage, dest: Path
                      ) -> dict[str, CheckResult]:
        profile = openresty_profile(image.labels)
        bundle = self._render(fixture, image, dest)
        work, script = write_probe_files(dest, source, profile, bundle)
        with ProbeContainer(image, self.stage.session, self.stage.reach, [(bundle, "/"), (work, "/tmp")],
                            capabilities=OpenRestyContainer.capabilities) as probe:
            _, output = probe.sh(script)
        parts = sections(output)
        checks = ImageChecks(source, fixture)
        modules = checks.modules(parts)
        return {"config": checks.config(parts), "modules": modules, "native": checks.native(parts)}

    # ---- luacheck ----------------------------------------------------------------------------
    def _tools_runner(self) -> tuple[str, Runner]:
        try:
            tools = self.stage.resolver.resolve("tools")
        except HarnessError as exc:
            return f"no tools image ({exc.message})", lambda argv, cwd: None

        def run(argv: list[str], cwd: Path) -> Optional[tuple[int, str]]:
            args = " ".join(shlex.quote(a) for a in (*LUACHECK_ARGS, *argv))
            with ProbeContainer(tools, self.stage.session, self.stage.reach, [(cwd, "/tmp")], user="65534:65534") as p:
                code, out = p.sh(f"command -v luacheck >/dev/null || exit {NO_LUACHECK}; cd /tmp/{cwd.name} && "
                                 f"luacheck {args}")
            return None if code == NO_LUACHECK else (code, out)
        return f"the tools image {tools.ref}", run

    def _lint(self, source: AppSource, work: Path, results: dict[str, CheckResult]) -> None:
        started = time.perf_counter()
        tools = self._tools_runner()
        try:
            result = check_lint(source, work, [tools, ("this host's PATH", host_runner)])
        except Exception as exc:  # noqa: BLE001 - a lint failure is a verdict, never a crash of the preflight
            result = CheckResult("lint", Verdict.SKIP, f"luacheck could not run: {type(exc).__name__}: {exc}")
        results["lint"] = CheckResult(result.name, result.verdict, result.summary, result.findings, result.detail,
                                      time.perf_counter() - started)

    # ---- the app under its limits ------------------------------------------------------------
    def _runtime_into(self, fixture: Fixture, image: ResolvedImage, dest: Path, results: dict[str, CheckResult]
                      ) -> None:
        try:
            results.update(self._timed(lambda: self._runtime(fixture, image, dest)))
        except Exception as exc:  # noqa: BLE001 - reported as the checks' verdict, never lost in a thread
            results.update({c.name: c for c in not_run(f"{type(exc).__name__}: {exc}")})

    def _runtime(self, fixture: Fixture, image: ResolvedImage, dest: Path) -> dict[str, CheckResult]:
        o = self.options
        started = time.perf_counter()
        try:
            nginx = self.stage.openresty(fixture, workers=o.workers, memory=o.memory, cpus=o.cpus, nofile=o.nofile,
                                         env=dict(o.env), reuse=False, image=self.image)
        except LuaSyntaxError:
            return {c.name: c for c in not_run("a Lua file does not compile (see lint)")}
        except NginxConfigError:
            return {c.name: c for c in not_run("nginx -t fails (see config)")}
        except HarnessError as exc:
            failed = CheckResult("start", Verdict.FAIL, f"the app did not start under these limits: {exc.message}",
                                 (Finding(exc.message, verdict=Verdict.FAIL),), detail=exc.detail[-3000:])
            return {c.name: c for c in not_run("the app did not start (see start)", failed)}
        ready_s = time.perf_counter() - started
        try:
            rendered = (self._render(fixture, image, dest) / "gen" / str(GENERATION) / "nginx.conf").read_text()
            match = WORKER_CONNECTIONS.search(rendered)
            s = sample(nginx, o, int(match.group(1)) if match else 1024, self._ncpu_in(nginx))
        finally:
            self.stage.release(nginx, reusable=False)
        return {c.name: c for c in (check_start(s, ready_s, o), check_workers(s, o), check_memory(s, o),
                                    check_connections(s))}

    @staticmethod
    def _ncpu_in(nginx: OpenRestyContainer) -> int:
        code, out = nginx.sh(NCPU)
        return int(out.strip()) if code == 0 and out.strip().isdigit() else 1
