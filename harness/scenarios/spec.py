"""The scenario format: what a YAML scenario may say, as pydantic models.

A scenario states a fixture, the services it needs, and a list of steps; a step sends traffic
(one request, a sequence, a burst, pipelined or raw bytes, a locust load, or leak rounds) while
faults hold, then checks expectations. The field reference in docs/scenario-reference.md is
generated from these models (``harness scenario-reference``), so the two cannot drift.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.faults.registry import FaultSpec, Route
from harness.load.env import Client
from harness.openresty_spec import OpenRestyOptions
from harness.preflight.step import PreflightStep
from harness.errors import HarnessError
from harness.services import SERVICE_NAMES, declare, name_of

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
REQUEST_LINE = re.compile(rf"^({'|'.join(METHODS)})\s+(\S+)$")

# the session's services, and redis_proxy: a fault proxy in front of Redis for this scenario (its REDIS_HOST)
SCENARIO_SERVICES = (*SERVICE_NAMES, "redis_proxy")


def as_pattern(text: str) -> Union[str, "re.Pattern[str]"]:
    """The scenario convention for patterns: ``/.../`` is a regex, anything else a substring."""
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        return re.compile(text[1:-1])
    return text


def matches(pattern: str, text: str) -> bool:
    """Whether ``text`` contains ``pattern`` (a substring, or a ``/regex/`` searched)."""
    compiled = as_pattern(pattern)
    return compiled in text if isinstance(compiled, str) else compiled.search(text) is not None


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Request(Spec):
    """One HTTP request. In YAML also a string: ``GET /path``."""

    method: str = Field("GET", description="HTTP method")
    path: str = Field("/", description="path and query, e.g. /count?key=a")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    body: Optional[str] = Field(None, description="request body")
    port: Optional[int] = Field(None, description="container port (default: the fixture server, 8080)")
    timeout: Optional[float] = Field(None, description="seconds; a timeout counts as an outcome, not an error")
    expect: Optional["ResponseExpect"] = Field(None, description="what this one response must look like (in a sequence)")

    @model_validator(mode="before")
    @classmethod
    def _from_line(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = REQUEST_LINE.match(value.strip())
            if not match:
                raise ValueError(f"a request line is 'METHOD /path' (methods: {', '.join(METHODS)}), "
                                 f"not {value!r}")
            return {"method": match.group(1), "path": match.group(2)}
        return value

    def line(self) -> str:
        return f"{self.method} {self.path}"


class Fault(FaultSpec):
    """A fault held while a step runs (any fault of docs/faults.md). In YAML also a string: ``redis.refusing``.

    With ``at``/``clear`` (seconds from the step's start) it follows a timeline while the step's
    traffic runs; without them it holds for the whole step, expectations included.
    """

    at: Optional[float] = Field(None, ge=0, description="seconds after the step starts to apply it")
    clear: Optional[float] = Field(None, ge=0, description="seconds after the step starts to undo it")

    @model_validator(mode="after")
    def _timeline(self) -> "Fault":
        if self.at is not None and self.clear is not None and self.clear <= self.at:
            raise ValueError("'clear' must come after 'at'")
        return self

    @property
    def timed(self) -> bool:
        return self.at is not None or self.clear is not None

    def describe(self) -> str:
        extras = {k: v for k, v in self.model_dump(exclude={"kind", "at", "clear", "jitter", "stream", "route", "host"},
                                                   exclude_none=True).items()}
        if self.fault.needs == "dns":
            extras = {"host": self.host, **extras}
        when = ""
        if self.timed:
            when = f" at {self.at or 0:g}s" + (f", cleared at {self.clear:g}s" if self.clear is not None else "")
        return self.kind + (f" {extras}" if extras else "") + when


class LogPattern(Spec):
    """An error.log expectation. In YAML also a string: a substring, or ``/regex/``."""

    pattern: str = Field(description="substring, or /regex/")
    level: Optional[str] = Field(None, description="only entries at exactly this level: debug info notice warn error crit alert emerg")
    count: Optional[int] = Field(None, ge=0, description="exactly this many entries (error_log only)")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"pattern": value} if isinstance(value, str) else value

    def matcher(self) -> Union[str, "re.Pattern[str]"]:
        return as_pattern(self.pattern)


class WorkerExpect(Spec):
    """Worker health after the step, compared with the table before it."""

    count: Optional[int] = Field(None, ge=0, description="live workers (not shutting down)")
    respawned: Optional[int] = Field(None, ge=0, description="workers that died and were replaced")
    died: Optional[int] = Field(None, ge=0, description="workers gone since the step began")
    zombies: Optional[int] = Field(None, ge=0, description="workers in state Z")
    stopped: Optional[int] = Field(None, ge=0, description="workers in state T")
    stuck: Optional[bool] = Field(None, description="a worker at >= 90 % CPU over the sample")
    over_quota: Optional[bool] = Field(None, description="more workers than the container's CPU quota")
    healthy: Optional[bool] = Field(None, description="no health finding at all (RSS, FDs, CPU, states, quota)")
    max_rss_mb: Optional[float] = Field(None, gt=0, description="every worker's RSS below this")
    max_fds: Optional[int] = Field(None, gt=0, description="every worker's open FDs at most this")
    sample_s: float = Field(0.5, gt=0, le=10, description="CPU sampling interval for stuck/healthy")


class ConnectionsExpect(Spec):
    """New connections to a dependency per request the step sent (pooled: about 0; none: 1)."""

    max_new_connections_per_request: Optional[float] = Field(
        None, ge=0, description="new connections / requests sent, at most (0.05 tells a pool from none)")
    min_new_connections_per_request: Optional[float] = Field(
        None, ge=0, description="at least (the faulty side: a client without keepalive shows 1.0)")
    min_pool_reuse: Optional[float] = Field(
        None, ge=0, le=1, description="1 - new connections / uses (uses: HTTP requests on a proxy route, else requests)")

    @property
    def wanted(self) -> bool:
        return any(v is not None for v in (self.max_new_connections_per_request,
                                           self.min_new_connections_per_request, self.min_pool_reuse))


class RedisExpect(ConnectionsExpect):
    """Redis state after the step; connections per request over the step (INFO
    total_connections_received, less the harness's own)."""

    keys: dict[str, Optional[str]] = Field(default_factory=dict, description="key -> value (null: absent)")
    max_clients_from_nginx: Optional[int] = Field(None, ge=0, description="connections from the OpenResty container")
    min_clients_from_nginx: Optional[int] = Field(None, ge=0, description="connections from the OpenResty container")


class RouteExpect(ConnectionsExpect):
    """Traffic through one fault proxy route during the step."""

    requests: Optional[int] = Field(None, ge=0, description="HTTP request lines through the route, exactly")
    max_connections: Optional[int] = Field(None, ge=0, description="connections the route accepted, at most")


class DnsExpect(Spec):
    """Queries the harness DNS server answered for one name during the step."""

    queries: Optional[int] = Field(None, ge=0, description="exactly this many (0: nothing asked, a pool at work)")
    min_queries: Optional[int] = Field(None, ge=0, description="at least")
    max_queries: Optional[int] = Field(None, ge=0, description="at most")
    answers: Optional[list[str]] = Field(
        None, description="every query's answer matches one of these (/regex/ too): an address, NXDOMAIN, "
                          "SERVFAIL, NOERROR, timeout")


class MetricsExpect(Spec):
    """A Prometheus scrape compared with one taken before the step."""

    port: int = Field(8099, description="container port of the exporter (add it to options.ports)")
    path: str = Field("/metrics", description="path of the exporter")
    delta: dict[str, float] = Field(description='sample -> increase, e.g. nginx_http_requests_total{status="200"}: 5')


class LoadExpect(Spec):
    """Bounds on a load step's result."""

    max_failures: Optional[int] = Field(0, ge=0, description="failed requests at most (default 0)")
    min_requests: Optional[int] = Field(None, ge=0, description="requests at least")
    min_rps: Optional[float] = Field(None, ge=0, description="requests per second at least")
    p99_ms: Optional[float] = Field(None, gt=0, description="p99 latency at most")
    max_ms: Optional[float] = Field(None, gt=0, description="slowest request at most")


class ResponseExpect(Spec):
    """What the responses must look like."""

    status: Optional[Union[int, list[int]]] = Field(None, description="status of every response (or one of a list)")
    statuses: Optional[dict[int, int]] = Field(None, description="status -> how many responses (bursts, repeats)")
    timeouts: Optional[int] = Field(None, ge=0, description="requests that timed out")
    body: Optional[str] = Field(None, description="exact body of every response")
    body_like: Optional[str] = Field(None, description="regex the body must match (search)")
    bodies: Optional[list[str]] = Field(None, description="exact bodies, in order (sequences)")
    headers: dict[str, str] = Field(default_factory=dict, description="header -> regex (fullmatch)")
    min_ms: Optional[float] = Field(None, ge=0, description="every response took at least this long")
    max_ms: Optional[float] = Field(None, gt=0, description="every response took at most this long")
    errors: Optional[int] = Field(None, ge=0, description="requests that met a broken connection (reset, refused)")


class Expect(ResponseExpect):
    """What must hold after a step (or, at scenario level, after all of them)."""

    error_log: list[LogPattern] = Field(default_factory=list, description="lines the step must log")
    no_error_log: list[LogPattern] = Field(default_factory=list, description="lines the step must not log")
    grep_error_log: dict[str, int] = Field(default_factory=dict, description="pattern -> exact count")
    workers: Optional[WorkerExpect] = Field(None, description="the worker table")
    redis: Optional[RedisExpect] = Field(None, description="Redis state and new connections per request")
    proxy: dict[Route, RouteExpect] = Field(
        default_factory=dict, description="route -> its traffic during the step (connections per request)")
    dns: dict[str, DnsExpect] = Field(default_factory=dict, description="name -> the queries nginx asked")
    metrics: Optional[MetricsExpect] = Field(None, description="Prometheus counters")
    load: Optional[LoadExpect] = Field(None, description="a load step's result")
    leak: Optional[Literal["leaking", "steady"]] = Field(None, description="verdict of a leak step")
    leak_metrics: list[Literal["fds", "rss_kb", "redis_clients"]] = Field(
        default_factory=list, description="with leak: leaking, the metrics that must grow")

    @field_validator("error_log", "no_error_log", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value


class LoadStep(Spec):
    """A locust load phase (in its own process)."""

    users: int = Field(10, ge=1, description="simulated users")
    duration: float = Field(3.0, gt=0, description="seconds")
    rate: Optional[float] = Field(None, gt=0, description="target requests per second")
    paths: list[str] = Field(default_factory=lambda: ["/"], description="requested in turn")
    processes: int = Field(1, ge=1, description="locust processes generating the load")
    client: Client = Field(
        "fast", description="locust's FastHttpUser, or the harness's lean RawHttpUser (GET only, several times faster)")


class LeakStep(Spec):
    """Rounds of requests with FDs, RSS and Redis clients sampled after each (a slope verdict)."""

    path: str = Field("/", description="requested in every round")
    rounds: int = Field(4, ge=3, description="measured rounds (after one warm-up round)")
    requests_per_round: int = Field(100, ge=10, description="requests between two samples")


class Step(Spec):
    """One step: faults, then traffic, then expectations. Give at most one kind of traffic."""

    name: Optional[str] = Field(None, description="for the report (default: the step's number)")
    fault: list[Fault] = Field(default_factory=list, description="faults held for this step (or a timeline)")
    reload: Optional[str] = Field(None, description="HUP-reload into this fixture first (its name or path)")
    reload_error: Optional[str] = Field(
        None, description="the reload must be rejected with this message (/regex/ too); the old workers keep serving")
    within: Optional[float] = Field(
        None, gt=0, le=120, description="retry traffic and checks until they pass, for up to this many seconds")
    until_dns_query: Optional[str] = Field(
        None, description="repeat faults and traffic until nginx asked the harness DNS for this name during "
                          "the attempt (up to `within`, default 10 s); that attempt is judged. nginx's resolver "
                          "cache counts whole seconds, so this waits on the query, not on a guess")
    request: Optional[Request] = Field(None, description="one request (see repeat, concurrent)")
    repeat: int = Field(1, ge=1, description="send `request` this many times, one after another")
    requests: list[Request] = Field(default_factory=list, description="a sequence, one after another")
    concurrent: Optional[int] = Field(None, ge=1, description="send `request` this many times at once")
    pipelined: list[Request] = Field(default_factory=list, description="written at once on one connection")
    raw: Optional[str] = Field(None, description="bytes sent as they are on one connection (\\r\\n as written)")
    load: Optional[LoadStep] = Field(None, description="a locust load phase")
    leak: Optional[LeakStep] = Field(None, description="leak rounds with a slope verdict")
    preflight: Optional[PreflightStep] = Field(None, description="harness preflight of an app, verdicts checked")
    expect: Expect = Field(default_factory=Expect, description="checked after the traffic, faults still held")

    @field_validator("fault", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    @property
    def sequence(self) -> list[Request]:
        """The requests sent one after another or pipelined, in order (per-request expectations)."""
        if self.request is not None:
            return [self.request] * self.repeat
        return self.requests or self.pipelined

    @model_validator(mode="after")
    def _one_traffic(self) -> "Step":
        kinds = [k for k in ("request", "requests", "pipelined", "raw", "load", "leak", "preflight")
                 if getattr(self, k)]
        if len(kinds) > 1:
            raise ValueError(f"a step sends one kind of traffic, this one has {' and '.join(kinds)}")
        if (self.repeat > 1 or self.concurrent) and not self.request:
            raise ValueError("'repeat' and 'concurrent' repeat 'request': add one")
        if self.reload_error and not self.reload:
            raise ValueError("'reload_error' needs 'reload' (the fixture whose reload must be rejected)")
        if (self.within or self.until_dns_query) and any(f.fault.needs == "nginx" or f.timed for f in self.fault):
            raise ValueError("'within' and 'until_dns_query' retry the step: they cannot repeat worker/master "
                             "faults or a timeline")
        if self.repeat > 1 and self.concurrent:
            raise ValueError("give 'repeat' (one after another) or 'concurrent' (at once), not both")
        return self


class InlineFixture(Spec):
    """A fixture written in the scenario, Test::Nginx style; with ``base``, a named fixture with
    the snippets given here replacing its own (the healthy twin of a faulty fixture, say)."""

    base: Optional[str] = Field(None, description="start from this fixture (name or directory)")
    config: str = Field("", description="body of the server on port 8080")
    http_config: str = Field("", description="goes in the http {} block")
    main_config: str = Field("", description="goes in the main context")
    lua: dict[str, str] = Field(default_factory=dict, description="module file name -> Lua source, on the package path")


class Options(OpenRestyOptions):
    """How the OpenResty container runs: the same options, defaults and meanings as the keywords of
    `openresty(...)` in Python (both are harness/openresty_spec.py's OpenRestyOptions)."""


class Scenario(Spec):
    """One scenario: a pytest item of its own."""

    name: str = Field(description="what the scenario shows; the test id")
    catalogue: list[int] = Field(default_factory=list, description="FAILURE-CATALOG entries it covers")
    description: str = Field("", description="free text for the report")
    faulty: bool = Field(False, description="the fixture is faulty on purpose; the scenario shows the fault is caught")
    fixture: Union[str, InlineFixture] = Field(
        "app", description="fixture name or directory; 'app' is the app under test (harness run --app)")
    options: Options = Field(default_factory=Options, description="how the OpenResty container runs")
    services: list[str] = Field(default_factory=list, description="started before OpenResty, their addresses in its "
                                "env: " + ", ".join(f"`{s}`" for s in SCENARIO_SERVICES) + " (redis_proxy: a fault "
                                "proxy in front of Redis, its REDIS_HOST); a name, or a name with options: "
                                "`{redis_sentinel: {replicas: 1, down_after_ms: 500}}` (docs/redis-topologies.md)")
    upstream: Optional[str] = Field(
        None, description="a backend fixture behind the fault proxy; OpenResty gets UPSTREAM_HOST/UPSTREAM_PORT")
    redis_data: dict[str, str] = Field(default_factory=dict, description="keys set in Redis before the steps")
    dns: dict[str, str] = Field(default_factory=dict,
                                description="name -> address answered by the harness DNS ('redis': Redis's address)")
    start_error: Optional[str] = Field(
        None, description="the fixture must fail to start with this message, /regex/ too (nginx -t, Lua syntax)")
    allow_log_problems: Union[bool, list[str]] = Field(
        False, description="crit/alert/emerg or Lua runtime errors that do not fail the scenario (true: all)")
    steps: list[Step] = Field(default_factory=list, description="run in order")
    expect: Expect = Field(default_factory=Expect, description="checked over the whole scenario, after the steps")

    @field_validator("services", mode="before")
    @classmethod
    def _declared_services(cls, value: Any) -> Any:
        """Each item a name, or ``{name: {option: value}}``: that service with those options (its key)."""
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, dict) and len(item) == 1:
                name, options = next(iter(item.items()))
                if name not in SERVICE_NAMES:
                    raise ValueError(f"unknown service {name!r} (services with options: {', '.join(SERVICE_NAMES)})")
                try:
                    out.append(declare(str(name), options or {}))
                except HarnessError as exc:
                    raise ValueError(f"{name}: {exc}") from None
            else:
                out.append(item)
        return out

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if name_of(s) not in SCENARIO_SERVICES]
        if unknown:
            raise ValueError(f"unknown service {', '.join(map(repr, unknown))} (services: {', '.join(SCENARIO_SERVICES)})")
        return value

    @property
    def service_names(self) -> set[str]:
        """The names of its services (options left out)."""
        return {name_of(s) for s in self.services}

    @property
    def session_services(self) -> tuple[str, ...]:
        """The session services its OpenResty declares, by key (redis_proxy stands in front of Redis;
        dns: answers need the DNS server)."""
        names = {s for s in self.services if s != "redis_proxy"} | set(self.options.services)
        names |= {"redis"} if "redis_proxy" in self.services and "redis" not in self.service_names else set()
        names |= {"dns"} if self.dns and "dns" not in self.service_names else set()
        return tuple(sorted(names))

    @model_validator(mode="after")
    def _coherent(self) -> "Scenario":
        if self.start_error is None and not self.steps:
            raise ValueError("a scenario needs steps (or start_error for a fixture that must not start)")
        kinds = {f.fault.needs for step in self.steps for f in step.fault}
        routes = {f.route for step in self.steps for f in step.fault if f.fault.needs == "proxy"}
        if "redis" in routes and "redis_proxy" not in self.services:
            raise ValueError("proxy.* faults on the redis route need 'redis_proxy' in services")
        if "upstream" in routes and not self.upstream:
            raise ValueError("proxy.* faults on the upstream route need 'upstream' (a backend fixture)")
        if "dns" in kinds and "dns" not in self.service_names:
            raise ValueError("dns.* faults need 'dns' in services")
        steps_and_scenario = [*(s.expect for s in self.steps), self.expect]
        if (any(s.until_dns_query for s in self.steps) or any(e.dns for e in steps_and_scenario)) \
                and "dns" not in self.service_names:
            raise ValueError("'until_dns_query' and dns expectations need 'dns' in services")
        wanted_routes = {r for e in steps_and_scenario for r in e.proxy}
        if "redis" in wanted_routes and "redis_proxy" not in self.services:
            raise ValueError("proxy: {redis: ...} needs 'redis_proxy' in services")
        if "upstream" in wanted_routes and not self.upstream:
            raise ValueError("proxy: {upstream: ...} needs 'upstream' (a backend fixture)")
        if "redis" in kinds and not {"redis", "redis_proxy"} & self.service_names:
            raise ValueError("redis.* faults need 'redis' in services")
        return self


class ScenarioFile(Spec):
    """A file: one scenario, or ``scenarios:`` with several."""

    scenarios: list[Scenario] = Field(min_length=1, description="each one a test item")


Request.model_rebuild()
