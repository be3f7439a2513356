"""Redis topologies as declared services: the session's Sentinel topology reaches OpenResty by the
fixture alone (no env given) and its failover is a registry fault by name; so is a slot migration on
the session's cluster. YAML declares a topology with options, and the scenario report shows the
failover's timeline. The `.t` side: fixed local ports through the companion (tests/tnginx/t/sentinel.t),
and the 127.0.0.1 layout with ACL users and the unix socket (tests/tnginx/env/sentinel-local.t)."""
from pathlib import Path

import httpx
import redis
import pytest

from harness.report.html import write_html_report
from harness.scenarios import ScenarioRunner, load_file
from harness.services import name_of
from harness.topologies import SentinelRedis
from harness.waiting import wait_for
from tests.integration.test_tnginx import harness_t

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_the_sessions_sentinel_topology_is_declared_by_its_fixture_and_fails_over_by_name(
        openresty, redis_sentinel, fault):
    nginx = openresty("redis-sentinel")  # REDIS_SENTINELS / REDIS_MASTER_NAME from the declaration
    assert len(redis_sentinel.nodes) == 3 and len(redis_sentinel.sentinels) == 3  # the service's shape
    assert httpx.get(f"{nginx.base_url}/set", params={"key": "k", "value": "before"}).text.strip() == "OK"
    old = redis_sentinel.master()
    with fault("sentinel.failover"):
        pass
    new = redis_sentinel.master()
    assert new is not old and old.role() == "replica", redis_sentinel.describe()

    def reads_back() -> bool:  # the app follows Sentinel to the promoted master; nothing was lost
        reply = httpx.get(f"{nginx.base_url}/get", params={"key": "k"}, timeout=5)
        return reply.status_code == 200 and reply.text.strip() == "before"
    wait_for(reads_back, timeout=10, what="the app to read k from the promoted master")
    assert httpx.get(f"{nginx.base_url}/set", params={"key": "k", "value": "after"}).text.strip() == "OK"
    assert new.client().get("k") == "after"


def test_a_cluster_fault_by_name_acts_on_the_sessions_cluster_and_is_undone(redis_cluster, fault):
    redis_cluster.client().set("moving", "here")
    owner = redis_cluster.owner(redis_cluster.slot("moving"))
    with fault("cluster.migrating", key="moving"):
        with pytest.raises(redis.exceptions.AskError):  # the owner sends the client to the importing node
            owner.client().get("moving")
    assert owner.client().get("moving") == "here" and redis_cluster.owner(redis_cluster.slot("moving")) is owner


def test_a_t_file_gets_the_127_0_0_1_layout_the_acl_users_and_the_unix_socket(tmp_path):
    """Sentinel names 127.0.0.1:PORT (the ports the file set) and a master/replicas answer there, a block
    naming a Sentinel alone reaches the master it is told of, the ACL ports know the users given, the
    socket is where the variable says. Without the users the ACL block fails, and only it."""
    t = REPO / "tests" / "tnginx" / "env" / "sentinel-local.t"
    users = {"HARNESS_T_REDIS_USERS": "appuser:apppass", "HARNESS_T_SENTINEL_USERS": "watcher:watchpass"}
    code, verdicts, out = harness_t(t, tmp_path / "users", env=users)
    assert code == 0 and verdicts == {f"TEST {n}": "passed" for n in range(1, 6)}, out[-4000:]
    code, verdicts, out = harness_t(t, tmp_path / "none")
    assert code == 1 and {n for n, v in verdicts.items() if v == "failed"} == {"TEST 3"}, out[-4000:]


def test_yaml_declares_a_topology_with_options_and_the_report_shows_its_failover(harness_stage, tmp_path):
    loaded = [s for s in load_file(REPO / "tests" / "scenarios" / "redis-sentinel.scenario.yaml")
              if "with options" in s.scenario.name]
    (scenario,) = loaded
    result = ScenarioRunner(harness_stage).run(scenario)
    assert result.passed, result.format()
    (key,) = [k for k in scenario.scenario.session_services if name_of(k) == "redis_sentinel"]
    topology = harness_stage.services.get(key)
    assert isinstance(topology, SentinelRedis) and len(topology.nodes) == 2, "replicas: 1 from the YAML"
    failover = result.steps[1].failover
    assert "promoted (was" in failover and "first good answer after it +" in failover, result.format()
    html = write_html_report(tmp_path / "scenarios.html", [result]).read_text()
    assert "failover timeline</b> (Sentinel): fault at +0.00s" in html and "promoted (was" in html
