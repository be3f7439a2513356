"""Redis topologies as declared services: the session's Sentinel topology reaches OpenResty by the
fixture alone (no env given) and its failover is a registry fault by name; so is a slot migration on
the session's cluster. (The `.t` side, fixed local ports through the companion: tests/tnginx/t/sentinel.t.)"""
import httpx
import redis
import pytest

from harness.waiting import wait_for

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
