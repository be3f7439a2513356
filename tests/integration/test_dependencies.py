"""Dependency hygiene by numbers: new connections per request to Redis and through the fault proxy,
each faulty fixture caught and its healthy twin passing the same verdict."""
import httpx
import pytest

from harness.leaks import LeakCheck
from harness.scenarios import ScenarioRunner, load_file

pytestmark = pytest.mark.integration

ROUND = 50


@pytest.mark.parametrize("fixture, churns", [
    ("redis-no-keepalive", True),   # /count forgets set_keepalive: a new connection per request
    ("redis-counter", False),       # the healthy twin: one pooled connection per worker
])
def test_a_forgotten_set_keepalive_is_churn_not_a_leak(openresty, redis, fixture, churns):
    nginx = openresty(fixture, workers=2)
    with httpx.Client(base_url=nginx.base_url, timeout=10) as client:
        def send(n: int) -> None:
            for _ in range(n):
                assert client.get("/count").status_code == 200
        report = LeakCheck(nginx, redis).run(send, requests_per_round=ROUND, rounds=3)
    print(report.format())
    report.assert_no_leak()  # either way: ngx_lua closes an unpooled socket when the request ends
    usage = report.usage["redis"]
    if churns:
        report.assert_churns("redis")
        assert usage.new_connections_per_request == pytest.approx(1.0, abs=0.02)
        assert usage.pool_reuse < 0.05
    else:
        report.assert_no_churn()
        assert usage.new_connections <= 2  # the pools filled in the warm-up round (at most one per worker left)
        assert report.connections.redis.kept >= 1


@pytest.fixture
def through_proxy(openresty, harness_stage, dependencies):
    """A backend behind the fault proxy; returns a function that starts a front fixture using it."""
    backend = openresty("hello", workers=1)
    proxy = harness_stage.fault_proxy({"backend": (8080, backend.ip, 8080)})

    def front(fixture: str):
        nginx = openresty(fixture, workers=1, reuse=False, env={"UPSTREAM_HOST": proxy.ip, "UPSTREAM_PORT": "8080"})
        return nginx, dependencies(nginx)
    front.route = proxy.route("backend")
    try:
        yield front
    finally:
        proxy.stop()


@pytest.mark.parametrize("fixture, reuses", [
    ("http-upstream-no-keepalive", False),  # keepalive in upstream {}, but HTTP/1.0 + Connection: close
    ("http-upstream-keepalive", True),      # proxy_http_version 1.1 and an empty Connection header
])
def test_upstream_keepalive_is_told_by_connections_per_request(through_proxy, fixture, reuses):
    nginx, deps = through_proxy(fixture)
    with nginx.client(timeout=10) as client:
        assert client.get("/api/").status_code == 200  # a first connection, into the keepalive cache
        before = deps.snapshot()
        for _ in range(ROUND):
            assert client.get("/api/").status_code == 200
        delta = deps.delta(before)
    usage = delta.usage(requests=ROUND)["proxy.backend"]
    print(delta.format(), usage, sep="\n")
    assert delta.routes["backend"].requests == ROUND  # every request went through the route once
    assert delta.routes["backend"].bytes_downstream > 0
    if reuses:
        assert not usage.churning and usage.new_connections == 0 and usage.pool_reuse == 1.0
    else:
        assert usage.churning and usage.new_connections == ROUND and usage.pool_reuse == 0.0


POOLED = """
scenarios:
  - name: Redis connections are pooled
    fixture: {fixture}
    services: [redis]
    steps:
      - request: GET /count
        repeat: 40
        expect:
          status: 200
          redis: {{max_new_connections_per_request: 0.05}}
    expect:
      redis: {{max_new_connections_per_request: 0.05}}
  - name: upstream connections are kept alive
    fixture: {upstream_fixture}
    upstream: hello
    steps:
      - request: GET /api/
        repeat: 20
        expect:
          status: 200
          proxy: {{upstream: {{max_new_connections_per_request: 0.05}}}}
"""


@pytest.mark.parametrize("redis_fixture, upstream_fixture, caught", [
    ("redis-no-keepalive", "http-upstream-no-keepalive", True),
    ("redis-counter", "http-upstream-keepalive", False),
])
def test_the_yaml_verdict_catches_the_faulty_fixtures_and_passes_their_twins(
        tmp_path, harness_stage, redis_fixture, upstream_fixture, caught):
    path = tmp_path / "pooled.scenario.yaml"
    path.write_text(POOLED.format(fixture=redis_fixture, upstream_fixture=upstream_fixture))
    runner = ScenarioRunner(harness_stage)
    try:
        results = [runner.run(loaded) for loaded in load_file(path)]
    finally:
        runner.close()
    for result, dependency in zip(results, ("redis", "proxy.upstream")):
        assert not result.error, result.format()
        verdicts = [c for c in result.checks if c.what == f"{dependency} new connections per request"]
        assert len(verdicts) == (2 if dependency == "redis" else 1)  # the step's, and the scenario's
        for verdict in verdicts:
            assert verdict.ok is not caught, result.format()
            if caught:
                assert verdict.actual.startswith("1.000"), verdict.actual  # one new connection per request


def test_a_route_drops_its_connections_and_the_pool_reconnects(through_proxy):
    nginx, deps = through_proxy("http-upstream-keepalive")
    with nginx.client(timeout=10) as client:
        assert client.get("/api/").status_code == 200
        before = deps.snapshot()
        assert through_proxy.route.drop_connections() == 1  # the one pooled upstream connection
        assert client.get("/api/").status_code == 200           # nginx saw the close: a new one, no error
        assert deps.delta(before).routes["backend"].connections == 1


NEVER_ASKS = """
name: a pooled connection never asks DNS, so waiting for a query fails clearly
fixture: redis-by-name
services: [redis, dns]
dns: {redis.harness.test: redis}
steps:
  - request: GET /count
    expect: {status: 200}
  - fault: {kind: dns.nxdomain, host: redis.harness.test}
    request: GET /count
    until_dns_query: redis.harness.test
    within: 1
    expect: {status: 200}
"""


def test_until_dns_query_fails_when_nginx_never_asks(tmp_path, harness_stage):
    path = tmp_path / "never.scenario.yaml"
    path.write_text(NEVER_ASKS)
    runner = ScenarioRunner(harness_stage)
    try:
        [result] = [runner.run(loaded) for loaded in load_file(path)]
    finally:
        runner.close()
    [failed] = [c for c in result.checks if not c.ok]
    assert failed.what.startswith("nginx asked DNS for redis.harness.test") and failed.actual == \
        "none within the deadline", result.format()
    assert "did not ask DNS for redis.harness.test" in "\n".join(result.steps[1].timeline)
