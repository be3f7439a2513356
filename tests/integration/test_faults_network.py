"""Catalogue 1, network side: the OpenResty -> Redis path through the harness's fault proxy."""
import time

import pytest

pytestmark = pytest.mark.integration

VALUE = 20_000  # bytes of the value /value reads


@pytest.fixture
def path(openresty, redis, redis_proxy):
    """redis-counter talking to Redis through the proxy, and the proxy's redis route."""
    nginx = openresty("redis-counter", workers=1, env={"REDIS_HOST": redis_proxy.ip}, reuse=False)
    redis.client().set("value", "v" * VALUE)
    client = nginx.client(timeout=10)
    assert client.get("/count").text == "1\n"
    assert redis.observe.clients_by_address()[redis_proxy.ip] == 1  # Redis sees the proxy, not nginx
    yield nginx, client, redis_proxy.route("redis")
    client.close()


def timed(client, url):
    started = time.perf_counter()
    response = client.get(url)
    return response, time.perf_counter() - started


def test_down_refuses_and_the_service_recovers(path):
    nginx, client, route = path
    with route.down():
        assert client.get("/count").status_code == 500
        nginx.log.assert_logged("failed to connect redis: connection refused")
    assert client.get("/count").status_code == 200


def test_blackhole_times_out_after_set_timeout(path):
    nginx, client, route = path
    with route.blackhole():
        response, took = timed(client, "/count")
    assert response.status_code == 500 and 0.9 < took < 3
    nginx.log.assert_logged("failed to incr counter:default: timeout")
    assert client.get("/count").status_code == 200


def test_reset_mid_stream(path):
    nginx, client, route = path
    with route.reset_peer():
        assert client.get("/count").status_code == 500
    nginx.log.assert_logged("failed to incr counter:default: connection reset by peer")
    assert client.get("/count").status_code == 200


@pytest.mark.parametrize("ms, status", [(300, 200), (1300, 500)])
def test_latency_just_under_and_over_the_timeout(path, ms, status):
    nginx, client, route = path
    with route.latency(ms):
        response, took = timed(client, "/count")
    assert response.status_code == status
    assert took >= min(ms, 1000) / 1000 * 0.95
    if status == 500:
        nginx.log.assert_logged("timeout")


def test_latency_with_jitter_spreads_the_response_times(path):
    nginx, client, route = path
    with route.latency(200, jitter=150):
        times = [timed(client, "/count")[1] for _ in range(12)]
    assert all(r >= 0.045 for r in times) and max(times) - min(times) > 0.05, times
    assert max(times) < 0.5


def test_bandwidth_limit_slows_a_large_reply(path):
    nginx, client, route = path
    fast, fast_took = timed(client, "/value")
    with route.bandwidth(50):  # KB/s: 20 KB take ~0.4 s
        slow, slow_took = timed(client, "/value")
    assert fast.text == slow.text == f"{VALUE}\n"
    assert slow_took > 0.3 and slow_took > 5 * fast_took


def test_close_after_n_bytes_breaks_the_reply(path):
    nginx, client, route = path
    with route.limit_data(1000):
        assert client.get("/value").status_code == 500
    nginx.log.assert_logged("failed to get value: closed")
    assert client.get("/value").text == f"{VALUE}\n"


def test_sliced_replies_are_still_read_whole(path):
    nginx, client, route = path
    with route.slicer(average_size=700, size_variation=300, delay_us=500):
        assert client.get("/value").text == f"{VALUE}\n"
    nginx.log.assert_not_logged("[error]")


def test_upstream_latency_delays_the_request_direction(path):
    nginx, client, route = path
    with route.latency(250, stream="upstream"):
        response, took = timed(client, "/count")
    assert response.status_code == 200 and took >= 0.24
