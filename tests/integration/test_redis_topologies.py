"""Redis as production runs it: the topologies start ready, a failover is survived by the app that
asks Sentinel and caught in the one that caches the master's address, and a Cluster client that
follows MOVED/ASK passes where one that ignores them is caught."""
import contextlib

import pytest

from harness.errors import HarnessError
from harness.faults.failover import ClusterFault, SentinelFault
from harness.service_options import ClusterOptions, ReplicatedOptions, SentinelOptions
from harness.topologies import ReplicatedRedis
from harness.topologies.drill import FailoverDrill
from harness.topologies.probe import WriteReadProbe
from harness.topologies.verdict import FailoverVerdict
from harness.waiting import wait_for

# each test breaks its topology on purpose: each gets one of its own (the marker), not the session's
pytestmark = [pytest.mark.integration, pytest.mark.redis_topology()]

# about 3 s when the first election succeeds; up to 10 s when the Sentinels must elect again (a
# loaded machine: -failover-abort-not-elected, then a new try after 2 x failover-timeout)
VERDICT = FailoverVerdict(max_outage_s=10.0, replication_window_s=1.0)


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


def assert_least_privilege(topology):
    for container in topology.containers():
        attrs = container.get_wrapped_container().attrs
        assert attrs["HostConfig"]["Privileged"] is False and attrs["HostConfig"]["CapDrop"] == ["ALL"]
        assert not attrs["HostConfig"]["CapAdd"] and attrs["Config"]["User"] == "redis", container.name
        assert "no-new-privileges" in attrs["HostConfig"]["SecurityOpt"]
        assert attrs["Config"]["Labels"]["harness.session"], container.name


@pytest.mark.allow_log_problems()
def test_sentinel_failover_app_asking_sentinel_passes(openresty, redis_sentinel):
    nginx = openresty("redis-sentinel", env=redis_sentinel.service_env())
    drill = FailoverDrill(redis_sentinel, nginx.base_url, VERDICT, app_ip=nginx.ip)
    report = drill.run(lambda fault: fault.killed_master())
    print(report.text())
    report.assert_ok()
    assert report.switch is not None and report.switch.old == report.before[0].address
    assert report.app_connections[report.switch.new] >= 1  # the app's pool followed the promotion


@pytest.mark.allow_log_problems()
def test_sentinel_failover_app_caching_the_master_is_caught(openresty, redis_sentinel):
    nginx = openresty("redis-sentinel-cached-master", env=redis_sentinel.service_env())
    drill = FailoverDrill(redis_sentinel, nginx.base_url, FailoverVerdict(max_outage_s=3), app_ip=nginx.ip,
                          grace_s=0.5)  # it never recovers: waiting longer shows nothing more
    report = drill.run(lambda fault: fault.paused_master())
    print(report.text())
    assert not report.ok
    assert report.outage_s is None, report.text()  # never recovers: it still asks the old master
    assert report.switch is not None  # Sentinel did its part
    assert report.app_connections[report.switch.new] == 0  # and the app never went there


@pytest.mark.allow_log_problems()
def test_lagging_replica_then_a_partitioned_master_loses_the_writes_it_took(openresty, redis_sentinel):
    assert_least_privilege(redis_sentinel)  # nodes and Sentinels: user redis, no capability
    fault = SentinelFault(redis_sentinel)
    old, new = fault.failover()  # SENTINEL FAILOVER on demand
    assert redis_sentinel.master() is new and old.role() == "replica"
    master = redis_sentinel.master()
    replica = redis_sentinel.replicas_of(master)[0]
    master.client().set("k", "old")
    redis_sentinel.wait_settled()
    with fault.lagging_replica() as lagging:
        assert lagging is replica
        master.client().set("k", "new")
        wait_for(lambda: master.client().info("replication")["master_repl_offset"]
                 > replica.client().info("replication")["master_repl_offset"], timeout=5, what="the replica to lag")
        assert replica.client().get("k") == "old"  # stale, and still answering
    assert replica.client().get("k") == "new"  # caught up on exit
    with fault.client_paused("write"):
        assert master.client().get("k") == "new"  # reads go on while writes wait
    # the master cut off from the Sentinels but not from the app: it acknowledges writes until the
    # promotion, and they are gone once it rejoins as a replica (Redis's default: no min-replicas-to-write)
    nginx = openresty("redis-sentinel", env=redis_sentinel.service_env())
    report = FailoverDrill(redis_sentinel, nginx.base_url, VERDICT).run(lambda f: f.partitioned_master())
    print(report.text())
    assert report.lost, report.text()
    # no request failed: the loss is silent (a step across the switch may write to the old master
    # and read from the new one: a wrong answer, but no error)
    assert report.switch is not None and report.failures == len(report.wrong)
    assert any("acknowledged writes lost" in p for p in report.problems)


def probe_through(nginx, cluster, strike):
    """Probe the app while ``strike(fault, master)`` holds a failover of the master of the probe's
    first key's slot, until 20 steps after the switch; judge the run."""
    fault = ClusterFault(cluster)
    with WriteReadProbe(nginx.base_url, timeout=3) as probe:
        wait_for(lambda: probe.good_since(0) >= 3 or probe.snapshot()[0][5:], timeout=10,
                 what="the probe to run")
        with strike(fault, cluster.owner(cluster.slot(f"{probe.prefix}0"))):
            wait_for(lambda: len([s for s in probe.snapshot()[0] if s.at > fault.switch.at]) >= 20, timeout=15,
                     what="20 steps after the failover")
            probe.stop()  # before the fault ends: a stopped master that wakes up is another story
    samples, acked = probe.snapshot()
    client = cluster.client()
    return VERDICT.judge(samples, acked, fault.struck_at, fault.switch, lambda keys: [client.get(k) for k in keys])


@contextlib.contextmanager
def coordinated(fault, master):
    fault.failover(master)  # CLUSTER FAILOVER on its replica
    yield


@contextlib.contextmanager
def paused(fault, master):
    with fault.paused_master(master) as old:
        fault.promoted(old)  # the cluster elects one of its replicas after cluster-node-timeout
        yield


@pytest.mark.allow_log_problems()
def test_cluster_client_following_moved_and_ask_passes(openresty, redis_cluster):
    nginx = openresty("redis-cluster", env=redis_cluster.service_env())
    report = probe_through(nginx, redis_cluster, coordinated)
    print(report.text())
    report.assert_ok()
    assert report.outage_s < 1.0  # a coordinated failover: at most a blip (clients wait while it hands over)
    # a master stopped: the cluster promotes its replica; the client finds it through another seed
    report = probe_through(nginx, redis_cluster, paused)
    print(report.text())
    report.assert_ok()
    assert report.failures > 0 and report.outage_s is not None
    # a slot migration in progress: the key already moved answers ASK at its owner; followed
    client = nginx.client(timeout=5)
    assert client.get("/set", params={"key": "moving", "value": "here"}).status_code == 200
    slot = redis_cluster.slot("moving")
    with ClusterFault(redis_cluster).migrating(slot, keys=["moving"]) as target:
        assert target.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 1
        response = client.get("/get", params={"key": "moving"})
        assert (response.status_code, response.text) == (200, "here\n")
    assert redis_cluster.client().get("moving") == "here"


@pytest.mark.allow_log_problems()
def test_cluster_client_ignoring_moved_is_caught(openresty, redis_cluster):
    states = redis_cluster.states()
    assert sorted(s.role for s in states) == ["master"] * 3 + ["replica"] * 3, redis_cluster.describe()
    owners = {redis_cluster.owner(redis_cluster.slot(f"k{i}")).address for i in range(30)}
    assert len(owners) == 3  # the keys below are spread over every master
    nginx = openresty("redis-cluster-ignores-moved", env=redis_cluster.service_env())
    with nginx.client(timeout=5) as client:
        codes = [client.get("/set", params={"key": f"k{i}", "value": "v"}).status_code for i in range(30)]
    assert codes.count(500) >= 10, codes  # every key of the two masters it does not talk to
    nginx.log.assert_logged("MOVED")
    client = redis_cluster.client()  # what it did write is there (a client that follows MOVED)
    assert sum(client.get(f"k{i}") == "v" for i in range(30)) == codes.count(200)


def test_a_topology_leaves_nothing_and_bad_options_say_the_fix(harness_stage):
    image = harness_stage.resolver.resolve("redis")
    topology = ReplicatedRedis(image, harness_stage.session, harness_stage.reach, ReplicatedOptions(replicas=1)).start()
    names = [c.name for c in topology.containers()]
    topology.stop()
    left = harness_stage.engine.client.containers.list(all=True, filters={"name": names[0]})
    assert not left and not topology.running()
    with pytest.raises(HarnessError, match="pass 1 <= quorum <= sentinels"):
        SentinelOptions.parse({"sentinels": 3, "quorum": 4})
    with pytest.raises(HarnessError, match="pass masters=3 or more"):
        ClusterOptions(masters=2)

