"""Run one scenario on a :class:`harness.stage.Stage`: services, fixture, then each step (faults,
traffic, expectations), then the scenario's own expectations and the log-problem check.

The same engine the Python tests use: the YAML is only a front end::

    with Stage.open() as stage:
        for loaded in load_file(Path("scenarios/catalogue/01-redis-unreachable.scenario.yaml")):
            print(ScenarioRunner(stage).run(loaded).format())
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import httpx

from harness.topologies import RedisCluster, SentinelRedis
from harness.containers import DnsContainer, RedisContainer
from harness.errorlog import ErrorLog, LogEntry, excerpt, problems_in
from harness.errors import HarnessError, NginxConfigError
from harness.nginx_conf import Fixture
from harness.preflight.settings import PreflightSettings
from harness.scenarios.checks import Check, Observed, check_all, check_response
from harness.faults.registry import Targets
from harness.scenarios.failover_watch import FailoverWatch
from harness.scenarios.fault_plan import Timeline, fault_context
from harness.scenarios.observe import observe
from harness.scenarios.loader import LoadedScenario
from harness.scenarios.preflight_step import run_preflight
from harness.scenarios.spec import InlineFixture, Scenario, Step, matches
from harness.scenarios.steps import ObservationWindow, Traffic, counters_of, send_traffic
from harness.scenarios.traffic import Outcome
from harness.services import env_through, name_of, route_to

if TYPE_CHECKING:
    from harness.containers import FaultProxyContainer, OpenRestyContainer
    from harness.pool import OpenRestyPlan
    from harness.stage import Stage

DEFAULT_APP = "redis-counter"  # the embedded sample app: what 'fixture: app' means without --app
DNS_QUERY_WAIT = 10.0  # until_dns_query without within: nginx asks again within valid + 1 s
RETRY_PAUSE = 0.2  # between two attempts of a retried step


@dataclass
class StepResult:
    name: str
    checks: list[Check] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    failover: str = ""  # a Sentinel fault's timeline: fault -> first failure -> promotion -> first good answer
    numbers: dict[str, float] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)  # a load step's per-second series
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class ScenarioResult:
    """What a scenario run saw and concluded; the pytest item, the summary and the HTML report read it."""

    name: str
    source: str  # file:line
    catalogue: list[int]
    faulty: bool
    steps: list[StepResult] = field(default_factory=list)
    final: list[Check] = field(default_factory=list)
    error: str = ""  # the harness could not run it (not a failed expectation)
    error_detail: str = ""
    error_log: str = ""
    workers_before: str = ""
    workers_after: str = ""
    image: str = ""
    seconds: float = 0.0

    @property
    def load_series(self) -> list[dict[str, Any]]:
        return [point for step in self.steps for point in step.series]

    @property
    def checks(self) -> list[Check]:
        return [c for s in self.steps for c in s.checks] + self.final

    @property
    def passed(self) -> bool:
        return not self.error and all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        return "error" if self.error else "passed" if self.passed else "failed"

    @property
    def latencies_ms(self) -> list[float]:
        return [o.elapsed_ms for s in self.steps for o in s.outcomes if o.status is not None]

    def key_numbers(self) -> str:
        """A short line for the summary table: requests, statuses, latency, load, leaks."""
        outcomes = [o for s in self.steps for o in s.outcomes]
        parts = []
        if outcomes:
            lat = sorted(self.latencies_ms)
            parts.append(f"{len(outcomes)} req")
            if lat:
                parts.append(f"max {lat[-1]:.0f} ms")
            stalled = sum(o.timed_out for o in outcomes)
            if stalled:
                parts.append(f"{stalled} timed out")
        for step in self.steps:
            parts += [f"{k} {v:g}" for k, v in step.numbers.items()]
        failed = [c for c in self.checks if not c.ok]
        if failed:
            parts.append(f"{len(failed)}/{len(self.checks)} checks failed")
        else:
            parts.append(f"{len(self.checks)} checks")
        return ", ".join(parts)

    def format(self) -> str:
        """Every check, failed ones with expected/actual, then the evidence."""
        lines = [f"scenario {self.name!r} ({self.source}): {self.verdict.upper()}"]
        if self.error:
            lines += [f"harness error: {self.error}", self.error_detail]
        for step in self.steps:
            lines.append(f"  step {step.name}")
            lines += ["    " + o.brief() for o in step.outcomes[:10]]
            if len(step.outcomes) > 10:
                lines.append(f"    ... {len(step.outcomes) - 10} more responses")
            lines += ["    " + t for t in step.timeline]
            lines += [f"    {step.failover}"] if step.failover else []
            lines += ["    " + c.format().replace("\n", "\n    ") for c in step.checks]
        if self.final:
            lines.append("  scenario expectations")
            lines += ["    " + c.format().replace("\n", "\n    ") for c in self.final]
        return "\n".join(line for line in lines if line is not None)


class ScenarioRunner:
    """Runs scenarios on ``stage``; ``app`` replaces the sample app wherever a scenario says ``app``;
    ``preflight`` fills in what a ``preflight:`` step leaves unset (None: ``HARNESS_PREFLIGHT_*``)."""

    def __init__(self, stage: "Stage", app: Optional[Path] = None, http_timeout: float = 10.0,
                 preflight: Optional[PreflightSettings] = None) -> None:
        self.stage = stage
        self.app = app
        self.http_timeout = http_timeout
        self.preflight = preflight
        self._clients: dict[str, httpx.Client] = {}

    def fixture_for(self, scenario: Scenario, source: Path) -> Fixture:
        spec = scenario.fixture
        if isinstance(spec, InlineFixture):
            if spec.base is not None:
                base = self._named_fixture(spec.base, source)
                return base.with_snippets(main_conf=spec.main_config or None, http_conf=spec.http_config or None,
                                          server_conf=spec.config or None)
            name = "".join(ch if ch.isalnum() else "-" for ch in scenario.name.lower())[:40].strip("-")
            return Fixture.inline(name or "inline", config=spec.config, http_config=spec.http_config,
                                  main_config=spec.main_config, lua=spec.lua)
        return self._named_fixture(spec, source)

    def _named_fixture(self, spec: str, source: Path) -> Fixture:
        if spec == "app":
            return self.stage.fixture(self.app or DEFAULT_APP)
        relative = source.parent / spec
        if ("/" in spec or spec.startswith(".")) and relative.is_dir():
            return self.stage.fixture(relative)
        return self.stage.fixture(spec)

    def plan_for(self, loaded: LoadedScenario) -> Optional["OpenRestyPlan[OpenRestyContainer]"]:
        """How the scenario's OpenResty will be asked for, if it can be prepared ahead (a pooled one
        switched, or a fresh one started): its environment follows from its declared services unless
        a per-scenario proxy or upstream stands in between."""
        scenario = loaded.scenario
        if scenario.start_error or scenario.upstream or "redis_proxy" in scenario.services:
            return None
        try:
            fixture = self.fixture_for(scenario, loaded.path)
        except HarnessError:
            return None
        return self.stage.plan(fixture, **self._options(scenario))

    @staticmethod
    def _options(scenario: Scenario, env: Optional[dict[str, str]] = None) -> dict[str, Any]:
        """The OpenResty options of ``scenario``: its own, its declared services, ``env`` over its env."""
        options = scenario.options.options()
        return {**options, "services": scenario.session_services, "env": {**(env or {}), **options["env"]}}

    def plan_ahead(self, upcoming: list[LoadedScenario]) -> None:
        """``upcoming``: the scenario about to run, then the next ones. Prepare containers for the
        next ones while this one runs (see :mod:`harness.prefetch`)."""
        plans = []
        for loaded in upcoming:
            plan = self.plan_for(loaded)
            if plan is None:
                break  # what follows depends on this scenario's services: do not guess
            plans.append(plan)
        self.stage.prefetcher.plan_ahead(plans)

    def run(self, loaded: LoadedScenario) -> ScenarioResult:
        scenario = loaded.scenario
        result = ScenarioResult(scenario.name, f"{loaded.path}:{loaded.line}", scenario.catalogue, scenario.faulty)
        started = time.perf_counter()
        with contextlib.ExitStack() as cleanup:
            try:
                self._run(scenario, loaded.path, result, cleanup)
            except HarnessError as exc:
                result.error, result.error_detail = exc.message, exc.detail
        result.seconds = time.perf_counter() - started
        return result

    # ---- the phases ---------------------------------------------------------------------------
    def _run(self, scenario: Scenario, source: Path, result: ScenarioResult, cleanup: contextlib.ExitStack) -> None:
        self._source = source
        targets_env, redis, proxy, dns = self._services(scenario, cleanup)
        fixture = self.fixture_for(scenario, source)
        try:
            nginx = self.stage.openresty(fixture, **self._options(scenario, targets_env))
        except NginxConfigError as exc:
            if scenario.start_error is None:
                raise
            text = f"{exc.message}\n{exc.detail}"
            result.final.append(Check(f"start fails with {scenario.start_error!r}",
                                      matches(scenario.start_error, text), scenario.start_error, exc.message,
                                      exc.detail))
            return
        cleanup.callback(self.stage.release, nginx)
        result.image = nginx.resolved.ref
        if scenario.start_error is not None:
            result.final.append(Check(f"start fails with {scenario.start_error!r}", False, scenario.start_error,
                                      "the fixture started"))
            return
        declared = {name_of(key): self.stage.services.get(key) for key in scenario.session_services}
        sentinel, cluster = declared.get("redis_sentinel"), declared.get("redis_cluster")
        targets = Targets(nginx, redis, proxy, dns, sentinel if isinstance(sentinel, SentinelRedis) else None,
                          cluster if isinstance(cluster, RedisCluster) else None)
        mark = nginx.handed_out_at
        all_outcomes: list[Outcome] = []
        entries: Optional[list[LogEntry]] = None  # error.log since the hand-out, once read
        window = ObservationWindow(targets, scenario.expect).open()
        before = window.workers_before
        result.workers_before = before.format() if before is not None else ""
        try:
            for index, step in enumerate(scenario.steps, 1):
                # the first step's view of error.log starts at the hand-out: nothing came in between
                step_result = self._step(step, index, targets, scenario,
                                         since=mark if index == 1 and not window.reads_before else None)
                result.steps.append(step_result)
                all_outcomes += step_result.outcomes
            final = window.observed(ErrorLog(nginx, since=mark), all_outcomes)
            window.close()
            observe(scenario.expect, final)
            result.final += check_all(scenario.expect, final)
            if scenario.allow_log_problems is not True:
                read = ErrorLog(nginx, since=mark).read(settle=True)
                entries = read.entries()
                if read.settled != "stopped":  # a container that stopped is judged by other checks
                    result.final += self._log_problems(scenario, entries)
        finally:
            try:
                if entries is None:
                    entries = ErrorLog(nginx, since=mark).entries()
                result.error_log = excerpt(entries, limit=60)
                if not result.passed or before is not None:
                    result.workers_after = nginx.workers(0.2).format()
            except Exception as exc:  # noqa: BLE001 - evidence must not hide the verdict
                result.workers_after = f"could not read: {exc}"

    def _services(self, scenario: Scenario, cleanup: contextlib.ExitStack
                  ) -> tuple[dict[str, str], Optional["RedisContainer"], Optional["FaultProxyContainer"],
                             Optional["DnsContainer"]]:
        """The scenario's services made fresh (Redis with its ``redis_data``, DNS answers), the fault
        proxy in front of Redis or the upstream, and the environment that points OpenResty at it."""
        services = {name_of(key): self.stage.services.reset(key) for key in scenario.session_services}
        redis, dns = services.get("redis"), services.get("dns")
        assert (redis is None or isinstance(redis, RedisContainer)) and (dns is None or isinstance(dns, DnsContainer))
        if redis is not None:
            client = redis.client()
            for key, value in scenario.redis_data.items():
                client.set(key, value)
        env: dict[str, str] = {}
        routes: dict[str, tuple[int, str, int]] = {}
        if "redis_proxy" in scenario.services and redis is not None:
            routes.update(route_to("redis", redis))
        if scenario.upstream:
            backend = self.stage.openresty(self._named_fixture(scenario.upstream, self._source), workers=1)
            cleanup.callback(self.stage.release, backend)
            routes["upstream"] = (8080, backend.ip, 8080)
        proxy = None
        if routes:
            proxy = self.stage.fault_proxy(routes)
            cleanup.callback(proxy.stop)
            if "redis" in routes:
                env.update(env_through("redis", proxy.ip))
            if "upstream" in routes:
                env.update({"UPSTREAM_HOST": proxy.ip, "UPSTREAM_PORT": "8080"})
        if dns is not None:
            for name, address in scenario.dns.items():
                if address == "redis":
                    if redis is None:
                        raise HarnessError(f"dns: {name} -> redis needs 'redis' in the scenario's services")
                    address = redis.ip
                dns.answer(name, a=address)
                cleanup.callback(dns.forget, name)
        return env, redis, proxy, dns

    def _step(self, step: Step, index: int, targets: Targets, scenario: Scenario,
              since: Optional[int] = None) -> StepResult:
        nginx = targets.nginx
        assert nginx is not None  # a scenario's faults act on its OpenResty
        out = StepResult(step.name or f"{index}")
        started = time.perf_counter()
        reload_checks: list[Check] = []
        if step.reload:
            try:
                nginx.switch(self._named_fixture(step.reload, self._source))
                if step.reload_error:
                    reload_checks.append(Check(f"reload rejected with {step.reload_error!r}", False,
                                               step.reload_error, "the reload was accepted"))
            except NginxConfigError as exc:
                if not step.reload_error:
                    raise
                reload_checks.append(Check(f"reload rejected with {step.reload_error!r}",
                                           matches(step.reload_error, f"{exc.message}\n{exc.detail}"),
                                           step.reload_error, exc.message, exc.detail))
        watch = FailoverWatch.wanted(step, targets.sentinel)
        with contextlib.ExitStack() as held:
            if watch is not None:
                # a Sentinel fault holds across the step's attempts: applied again, it would fail over again
                held.enter_context(watch)
                for fault in [f for f in step.fault if not f.timed]:
                    held.enter_context(fault_context(fault, targets))
                    out.timeline.append(f"holding {fault.describe()} (across the step's attempts)")
            self._attempts(step, targets, out, since, reload_checks, watch)
        if watch is not None:
            out.failover = watch.line()
        out.seconds = time.perf_counter() - started
        return out

    def _attempts(self, step: Step, targets: Targets, out: StepResult, since: Optional[int],
                  reload_checks: list[Check], watch: Optional[FailoverWatch]) -> None:
        """The step's attempts: once, or until it passes (``within``) or nginx asked DNS (``until_dns_query``)."""
        name = step.until_dns_query
        deadline = time.monotonic() + (step.within or (DNS_QUERY_WAIT if name else 0))
        attempts = 0
        while True:
            seen = self._attempt(step, targets, out, None if step.reload else since, hold=watch is None)
            since = None  # a retry looks only at what comes after it
            attempts += 1
            if watch is not None:
                watch.attempt(all(c.ok for c in reload_checks + out.checks))
            out.checks = reload_checks + out.checks
            if name:
                asked = seen.dependencies is not None and bool(seen.dependencies.queries(name))
                if asked or time.monotonic() >= deadline:
                    out.checks.append(Check(f"nginx asked DNS for {name} (attempt {attempts})", asked,
                                            "a query during the attempt", "none within the deadline"
                                            if not asked else "asked"))
                    break
                out.timeline.append(f"attempt {attempts}: nginx did not ask DNS for {name} (a cached answer "
                                    "or a pooled connection); repeating")
            elif out.passed or time.monotonic() >= deadline:
                break
            else:
                out.timeline.append(f"{len(out.checks) - sum(c.ok for c in out.checks)} check(s) failed; retrying "
                                    f"(within {step.within:g}s)")
            time.sleep(RETRY_PAUSE)

    def _attempt(self, step: Step, targets: Targets, out: StepResult, since: Optional[int] = None,
                 hold: bool = True) -> Observed:
        nginx = targets.nginx
        assert nginx is not None  # a scenario's faults act on its OpenResty
        log = ErrorLog(nginx, since=since)
        if since is None:
            log.mark()
        window = ObservationWindow(targets, step.expect, always_count=bool(step.until_dns_query)).open()
        held = [f for f in step.fault if not f.timed] if hold else []  # hold=False: the caller holds them
        timed = [f for f in step.fault if f.timed]
        with contextlib.ExitStack() as faults:
            for fault in held:
                faults.enter_context(fault_context(fault, targets))
                out.timeline.append(f"holding {fault.describe()}")
            timeline = Timeline(timed, targets).start() if timed else None
            try:
                seen = window.observed(log)
                traffic = Traffic(step, nginx, seen, self.http_timeout, self._client, lambda: counters_of(targets))
                send_traffic(traffic)
                out.numbers.update(traffic.numbers)
                out.series = traffic.series
            finally:
                if timeline is not None:
                    timeline.stop()
                    out.timeline += timeline.log
            window.close()
            if seen.dependencies is not None and seen.requests and seen.leak is None:
                # a leak step reports its measured rounds
                for usage in seen.dependencies.usage(seen.requests).values():
                    out.numbers[f"{usage.dependency} conn/req"] = round(usage.new_connections_per_request, 3)
            out.outcomes = seen.outcomes
            observe(step.expect, seen)
            out.checks = check_all(step.expect, seen)
            for index, (request, outcome) in enumerate(zip(step.sequence, seen.outcomes), 1):
                if request.expect is not None:
                    out.checks += check_response(request.expect, outcome, index)
            if step.preflight is not None:
                app = self._named_fixture(step.preflight.app, self._source) if step.preflight.app else nginx.fixture
                report, checks = run_preflight(self.stage, step.preflight, app, self.preflight)
                out.checks += checks
                out.numbers["preflight s"] = round(report.seconds, 1)
        return seen

    def _client(self, base_url: str) -> httpx.Client:
        """One client per base URL for the runner's life (a new httpx client costs ~15 ms)."""
        client = self._clients.get(base_url)
        if client is None:
            client = self._clients[base_url] = httpx.Client(base_url=base_url, timeout=self.http_timeout)
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _log_problems(self, scenario: Scenario, entries: list[LogEntry]) -> list[Check]:
        allowed = scenario.allow_log_problems or []
        problems = problems_in(entries, allowed if allowed is not True else [])
        return [Check("no [crit]/[alert]/[emerg] or Lua runtime errors", not problems, "none",
                      f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'}", excerpt(problems))]
