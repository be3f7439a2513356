"""A test that fails inside a fault context leaves no fault behind: each context undoes itself on the
way out of a failing block, and the next request finds the system healthy."""
import pytest

from harness.faults import WorkerFault

pytestmark = pytest.mark.integration


class Failed(AssertionError):
    """The test's own failure, raised inside the fault."""


def fail_inside(fault) -> None:
    with pytest.raises(Failed):
        with fault:
            raise Failed("the test fails while the fault is on")


def test_a_failing_test_undoes_redis_worker_proxy_and_dns_faults(openresty, redis, redis_fault, redis_proxy, dns):
    nginx = openresty("redis-counter", workers=2, env={"REDIS_HOST": redis_proxy.ip}, reuse=False)
    with nginx.client() as client:
        fail_inside(redis_fault.refusing())
        assert redis.client().ping() and client.get("/count").status_code == 200

        fail_inside(redis_fault.paused())
        assert redis.get_wrapped_container().status != "paused" and client.get("/count").status_code == 200

        route = redis_proxy.route("redis")
        fail_inside(route.down())
        assert route.state()["enabled"] is True and client.get("/count").status_code == 200
        fail_inside(route.latency(2000))
        assert route.state()["toxics"] == [] and client.get("/count", timeout=1.0).status_code == 200

        fail_inside(WorkerFault(nginx).stopped_worker())
        assert {w.state for w in nginx.workers().workers} <= {"S", "R"}

    fail_inside(dns.answering("redis.harness.test", rcode="SERVFAIL"))
    assert "redis.harness.test." not in dns.records()
