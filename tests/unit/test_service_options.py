"""Service options (no Docker): one value object per service, parsed the same from a pytest marker,
YAML ``services:`` and a ``.t`` file's variables; a service with options is its own key; a Sentinel
step's failover timeline reaches the text and the HTML report."""
from types import SimpleNamespace

import pytest

from harness.errors import HarnessError
from harness.scenarios.spec import Scenario
from harness.service_options import (ClusterOptions, LocalLayout, RedisOptions, SentinelOptions, users_of)
from harness.services import SERVICES, checked, declare, name_of, options_of
from harness.tnginx.adapter import declared_services, local_layout, socket_path
from harness.tnginx.peers import Peers

LAYOUT_ENV = {"TEST_NGINX_REDIS_PORT": "6380", "TEST_NGINX_REDIS_PORT_SL1": "6381", "TEST_NGINX_REDIS_PORT_SL2": "6382",
              "TEST_NGINX_SENTINEL_PORT1": "6390", "TEST_NGINX_SENTINEL_PORT2": "6391",
              "TEST_NGINX_SENTINEL_PORT3": "6392", "TEST_NGINX_SENTINEL_PORT_AUTH": "6393",
              "TEST_NGINX_REDIS_PORT_AUTH": "6383"}


def test_options_parse_over_defaults_and_bad_ones_name_the_fix():
    options = SentinelOptions.parse({"down_after_ms": "500", "users": {"app": "secret"}})
    assert (options.replicas, options.down_after_ms, options.users) == (1, 500, (("app", "secret"),))
    # over the declared service's own defaults (2 replicas), as YAML takes them
    declared = SentinelOptions.parse({"quorum": 1}, base=SERVICES["redis_sentinel"].options)
    assert (declared.replicas, declared.quorum) == (2, 1)
    with pytest.raises(HarnessError, match=r"unknown option 'replica' of SentinelOptions \(options: replicas, "):
        SentinelOptions.parse({"replica": 2})
    with pytest.raises(HarnessError, match="pass 1 <= quorum <= sentinels"):
        SentinelOptions(sentinels=3, quorum=4)
    with pytest.raises(HarnessError, match="replicas: Input should be a valid integer"):
        SentinelOptions.parse({"replicas": "two"})
    with pytest.raises(HarnessError, match="pass masters=3 or more"):
        ClusterOptions.parse({"masters": 2})
    with pytest.raises(HarnessError, match="give an absolute path"):
        RedisOptions(socket="redis.sock")
    with pytest.raises(HarnessError, match="give NAME:PASSWORD"):
        users_of("nopassword")
    assert users_of("b:2,a:x:y") == (("a", "x:y"), ("b", "2"))


def test_a_layout_must_match_the_counts_and_use_distinct_ports():
    layout = LocalLayout(6380, (6381, 6382), (6390, 6391, 6392))
    assert layout.ports == (6380, 6381, 6382, 6390, 6391, 6392)
    with pytest.raises(HarnessError, match="2 replica ports for 1 replicas"):
        SentinelOptions(layout=layout)
    with pytest.raises(HarnessError, match="distinct TCP ports"):
        LocalLayout(6380, (6380,), (6390,))


def test_a_service_with_options_is_its_own_key_and_its_options_come_back():
    assert declare("redis_sentinel") == "redis_sentinel"
    assert declare("redis_sentinel", {"replicas": 2}) == "redis_sentinel", "the service's own default"
    key = declare("redis_sentinel", {"replicas": 1, "down_after_ms": 500})
    assert key == 'redis_sentinel{"down_after_ms":500,"replicas":1}' and name_of(key) == "redis_sentinel"
    assert options_of(key) == SentinelOptions(replicas=1, down_after_ms=500)
    laid = declare("redis_sentinel", {"layout": {"master": 6380, "replicas": [6381, 6382],
                                                 "sentinels": [6390, 6391, 6392]}})
    assert options_of(laid).layout == LocalLayout(6380, (6381, 6382), (6390, 6391, 6392))
    assert checked([key, "redis", key]) == ("redis", key)
    with pytest.raises(ValueError, match="unknown service 'mysql'"):
        checked(['mysql{"a":1}'])
    with pytest.raises(HarnessError, match="unknown option 'replicas' of ServiceOptions"):
        declare("dns", {"replicas": 1})


def test_yaml_services_take_options_into_the_same_value_objects():
    scenario = Scenario.model_validate({"name": "s", "fixture": "redis-sentinel", "steps": [{"request": "GET /"}],
                                        "services": [{"redis_sentinel": {"replicas": 1, "down_after_ms": 500}}, "dns"]})
    (key,) = [s for s in scenario.session_services if name_of(s) == "redis_sentinel"]
    assert options_of(key) == SentinelOptions(replicas=1, down_after_ms=500)
    assert scenario.service_names == {"redis_sentinel", "dns"}
    with pytest.raises(ValueError, match="redis_sentinel: unknown option 'replica'"):
        Scenario.model_validate({"name": "s", "steps": [{"request": "GET /"}],
                                 "services": [{"redis_sentinel": {"replica": 1}}]})


def test_a_t_files_variables_give_the_127_0_0_1_layout_users_and_socket():
    assert local_layout(LAYOUT_ENV) == LocalLayout(6380, (6381, 6382), (6390, 6391, 6392))
    # the master's port left to the harness: Redis's own, which ${REDIS_PORT} gives
    assert local_layout({**LAYOUT_ENV, "TEST_NGINX_REDIS_PORT": "${REDIS_PORT}"}).master == 6379
    assert local_layout({"TEST_NGINX_REDIS_PORT": "6380"}) is None, "no Sentinel port: no layout"
    text = "sentinels = {6390, 6391, 6392}; 6393; port = 6383; path = 'unix:/tmp/r/redis.sock'"
    env = {**LAYOUT_ENV, "TEST_NGINX_REDIS_SOCKET": "unix:/tmp/r/redis.sock"}
    keys = declared_services([(text, env)], redis_users="u:p", sentinel_users="s:q")
    sentinel = options_of(next(k for k in keys if name_of(k) == "redis_sentinel"))
    assert sentinel.layout == LocalLayout(6380, (6381, 6382), (6390, 6391, 6392))
    assert (sentinel.users, sentinel.sentinel_users, sentinel.quorum) == ((("u", "p"),), (("s", "q"),), 2)
    redis = options_of(next(k for k in keys if name_of(k) == "redis"))
    assert redis == RedisOptions(users=(("u", "p"),), socket="/tmp/r/redis.sock")
    assert socket_path({"TEST_NGINX_REDIS_SOCKET": "unix://tmp/redis/redis.sock"}, "unix://tmp/redis/redis.sock") == \
        "/tmp/redis/redis.sock"
    assert socket_path({"TEST_NGINX_REDIS_SOCKET": "unix:/x.sock"}, "no socket named") == ""


def test_a_laid_out_topology_is_forwarded_port_for_port_and_the_acl_ports_are_aliases():
    """Sentinel names 127.0.0.1:6381, so 127.0.0.1:6381 must be the node listening there whatever its
    role now: every port leads to the same port in the topology's namespace (172.18.0.5)."""
    from harness.tnginx.adapter import SuiteStage

    ns = "172.18.0.5"
    env = {"REDIS_SENTINELS": f"{ns}:6390,{ns}:6391,{ns}:6392", "REDIS_SENTINEL_MASTER": f"{ns}:6381",
           "REDIS_SENTINEL_REPLICAS": f"{ns}:6380,{ns}:6382", "REDIS_SENTINEL_NODES": f"{ns}:6380,{ns}:6381,{ns}:6382"}
    suite = SuiteStage.__new__(SuiteStage)
    suite.stage = SimpleNamespace(services=SimpleNamespace(env=lambda names: dict(env)))  # type: ignore[assignment]
    suite.env = {}
    text = 'connect("127.0.0.1", 6390) 6393 6383'  # the members named or not: all of them
    keys = declared_services([(text, LAYOUT_ENV)])
    block = SimpleNamespace(fixture=SimpleNamespace(snippets={"server.conf": text}), test_env=LAYOUT_ENV,
                            peers=Peers(), named_services=keys, code=text)
    forwards = suite.local_services(block)
    assert {listen: (host, port) for listen, host, port in forwards.values()} == {
        6380: (ns, 6380), 6381: (ns, 6381), 6382: (ns, 6382), 6383: (ns, 6380),
        6390: (ns, 6390), 6391: (ns, 6391), 6392: (ns, 6392), 6393: (ns, 6390)}


def test_a_sentinel_steps_failover_timeline_reads_in_the_text_and_the_html(tmp_path):
    from harness.report.html import write_html_report
    from harness.scenarios.failover_watch import FailoverWatch
    from harness.scenarios.runner import ScenarioResult, StepResult
    from harness.topologies.events import EventLog

    watch = FailoverWatch.__new__(FailoverWatch)
    watch.events, watch.began = EventLog(), 100.0  # type: ignore[assignment]
    watch.attempts = [(100.3, False), (101.0, False), (102.9, True)]
    watch.events.record("+switch-master", "mymaster 127.0.0.1 6380 127.0.0.1 6381", at=102.5)
    line = watch.line()
    assert line == ("failover: fault at +0.00s; first failed attempt +0.30s; +2.50s 127.0.0.1:6381 promoted "
                    "(was 127.0.0.1:6380); first good answer after it +2.90s")
    result = ScenarioResult("failover", "f.yaml:1", [], False, steps=[StepResult("2", failover=line)])
    assert line in result.format()
    html = write_html_report(tmp_path / "r.html", [result]).read_text()
    assert "failover timeline</b> (Sentinel): fault at +0.00s; first failed attempt +0.30s; +2.50s" in html
    # a forced failover: the leader's +promoted-slave comes before any +switch-master
    watch.events = EventLog()  # type: ignore[assignment]
    watch.events.record("+promoted-slave", "slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.2 6379", at=101.2)
    watch.events.record("+switch-master", "mymaster 10.0.0.2 6379 10.0.0.3 6379", at=104.0)
    assert "+1.20s 10.0.0.3:6379 promoted (was 10.0.0.2:6379)" in watch.line()
    # no promotion, never good: said so
    watch.events, watch.attempts = EventLog(), [(100.5, False)]  # type: ignore[assignment]
    assert watch.line().endswith("first failed attempt +0.50s; no promotion seen; first good answer after it never")
