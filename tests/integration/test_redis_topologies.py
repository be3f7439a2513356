"""Redis as production runs it: the topologies start ready, a failover is survived by the app that
asks Sentinel and caught in the one that caches the master's address, and a Cluster client that
follows MOVED/ASK passes where one that ignores them is caught."""
import pytest

from harness.faults.failover import ClusterFault, SentinelFault
from harness.topologies.drill import FailoverDrill
from harness.topologies.verdict import FailoverVerdict

pytestmark = pytest.mark.integration

VERDICT = FailoverVerdict(max_outage_s=6.0, replication_window_s=1.0)


@pytest.mark.redis_topology(replicas=2)
def test_replicated_starts_in_sync_and_replicates(redis_replicated):
    master = redis_replicated.master()
    assert master is redis_replicated.nodes[0]
    master.client().set("k", "v")
    master.client().execute_command("WAIT", 2, 2000)
    states = redis_replicated.states()
    assert [s.role for s in states] == ["master", "replica", "replica"]
    assert {s.offset for s in states} == {states[0].offset}, redis_replicated.describe()
    assert all(n.client().get("k") == "v" for n in redis_replicated.nodes)


@pytest.mark.allow_log_problems()
def test_sentinel_failover_app_asking_sentinel_passes(openresty, redis_sentinel):
    nginx = openresty("redis-sentinel", env=redis_sentinel.service_env())
    report = FailoverDrill(redis_sentinel, nginx.base_url, VERDICT).run(lambda fault: fault.paused_master())
    print(report.text())
    report.assert_ok()
    assert report.switch is not None and report.switch.old == report.before[0].address
    # the app's connections went to the promoted master
    promoted = next(s for s in report.after if s.address == report.switch.new)
    assert promoted.role == "master" and promoted.clients > 1


@pytest.mark.allow_log_problems()
def test_sentinel_failover_app_caching_the_master_is_caught(openresty, redis_sentinel):
    nginx = openresty("redis-sentinel-cached-master", env=redis_sentinel.service_env())
    report = FailoverDrill(redis_sentinel, nginx.base_url, VERDICT).run(lambda fault: fault.paused_master())
    print(report.text())
    assert not report.ok
    assert report.outage_s is None, report.text()  # never recovers: it still asks the old master
    assert report.switch is not None  # Sentinel did its part
