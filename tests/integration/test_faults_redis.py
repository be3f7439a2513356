"""Catalogue 1: Redis unreachable, each way it happens, and the recovery without a restart."""
import re
import time

import pytest

from harness.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def counter(openresty, redis):
    nginx = openresty("redis-counter", workers=1)
    client = nginx.client(timeout=5)
    assert client.get("/count").status_code == 200  # a pooled connection exists before the fault
    yield nginx, client
    client.close()


def assert_recovers(client, redis):
    before = int(redis.client().get("counter:default") or 0)
    response = client.get("/count")
    assert response.status_code == 200, "the service must recover without a restart"
    assert int(response.text) == before + 1


def test_refused_is_a_500_with_the_error_logged_then_recovers(counter, redis, redis_fault):
    nginx, client = counter
    with redis_fault.refusing():
        assert client.get("/count").status_code == 500
        nginx.log.assert_logged("failed to connect redis: connection refused", level="error")
    assert_recovers(client, redis)


def test_paused_server_times_out_after_set_timeout(counter, redis, redis_fault):
    nginx, client = counter
    with redis_fault.paused():
        started = time.perf_counter()
        assert client.get("/count").status_code == 500
        elapsed = time.perf_counter() - started
    assert 0.9 < elapsed < 3.0, f"set_timeout(1000) should bound the wait, took {elapsed:.2f}s"
    nginx.log.assert_logged(re.compile(r"failed to (connect redis|incr counter:default): timeout"))
    assert_recovers(client, redis)


@pytest.fixture
def by_name(openresty, redis):
    """redis-by-name finding Redis through Docker's resolver and the network alias "redis", the way
    a service finds a restarted dependency at its new address."""
    nginx = openresty("redis-by-name", workers=1, env={"DNS_SERVER": "127.0.0.11", "REDIS_NAME": "redis"})
    client = nginx.client(timeout=5)
    assert client.get("/count").text == "1\n"
    yield nginx, client
    client.close()


def test_stopped_container_fails_and_a_client_using_its_name_recovers(by_name, redis, redis_fault):
    nginx, client = by_name
    old = redis.ip
    with redis_fault.stopped():
        assert client.get("/count").status_code == 500
    nginx.log.assert_logged(re.compile(r"failed to (connect redis|incr counter:named): "
                                       r"(timeout|no route to host|connection refused|.*could not be resolved)"))
    print(f"Redis was at {old}, is at {redis.ip} after the restart")
    wait_for(lambda: client.get("/count").status_code == 200, timeout=15, what="the service to find Redis again")


def test_killed_and_restarted_redis_is_found_again(by_name, redis, redis_fault):
    nginx, client = by_name
    with redis_fault.killed():
        assert client.get("/count").status_code == 500
    wait_for(lambda: client.get("/count").status_code == 200, timeout=15, what="the service to find Redis again")
    redis_fault.restart()
    wait_for(lambda: client.get("/count").status_code == 200, timeout=15, what="the service after a restart")


def test_a_hard_coded_address_does_not_survive_a_restart_that_moves_redis(counter, redis, redis_fault):
    nginx, client = counter
    old = redis.ip
    redis_fault.restart()
    if redis.ip == old:
        assert_recovers(client, redis)  # same address: the pooled client reconnects
    else:
        assert client.get("/count").status_code == 500, "REDIS_HOST still names the old address"


@pytest.mark.parametrize("pause_ms, status", [(400, 200), (1600, 500)])
def test_slow_server_just_under_and_just_over_the_timeout(counter, redis_fault, pause_ms, status):
    nginx, client = counter
    with redis_fault.slow(pause_ms):
        started = time.perf_counter()
        response = client.get("/count")
        elapsed = time.perf_counter() - started
    assert response.status_code == status
    if status == 200:
        assert elapsed >= pause_ms / 1000 * 0.8
        nginx.log.assert_not_logged("failed to")
    else:
        assert elapsed < 1.6
        nginx.log.assert_logged("timeout")


def test_dropped_pooled_connection_is_replaced(counter, redis, redis_fault):
    nginx, client = counter
    before = {c["id"] for c in redis.observe.clients()}
    assert redis_fault.drop_connections() >= 1
    assert_recovers(client, redis)
    after = {c["id"] for c in redis.observe.clients()}
    assert after and not (after & before), "a new connection replaced the dropped one"
    nginx.log.assert_not_logged("[error]")


@pytest.mark.allow_log_problems("attempt to index local 'sock'")
def test_unchecked_connect_dies_with_a_nil_socket_and_the_checked_twin_does_not(openresty, redis, redis_fault):
    unchecked = openresty("redis-unchecked", workers=1)
    checked = openresty("redis-counter", workers=1)
    with unchecked.client() as u, checked.client() as c:
        assert u.get("/ping").text == "+PONG\n"
        with redis_fault.refusing():
            assert u.get("/ping").status_code == 500
            assert c.get("/count").status_code == 500
        entry = unchecked.log.assert_logged("attempt to index local 'sock' (a nil value)", count=1)[0]
        assert "stack traceback:" in entry.message and entry.is_lua_error
        assert checked.log.grep("lua entry thread aborted") == []
        checked.log.assert_logged("failed to connect redis: connection refused")


def test_the_fault_fixture_holds_a_fault_by_its_registry_name(counter, openresty, redis, fault, redis_proxy):
    """The names YAML and `harness t` use: applied inside the block, undone after it; a proxy fault
    slows only the OpenResty that goes through the proxy."""
    _, client = counter
    with fault("redis.refusing"):
        assert client.get("/count").status_code == 500
    assert_recovers(client, redis)
    proxied = openresty("redis-counter", workers=1, env={"REDIS_HOST": redis_proxy.ip}, reuse=False)
    with proxied.client(timeout=5) as through, fault("proxy.latency", proxy=redis_proxy, ms=1300):
        assert through.get("/count").status_code == 500  # set_timeout(1000) fires
        assert client.get("/count").status_code == 200   # the direct path is not slowed
    with proxied.client(timeout=5) as through:
        assert through.get("/count").status_code == 200
