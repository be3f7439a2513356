"""The whole path: HTTP -> Lua in OpenResty -> Redis, with pooled connections, on real containers."""
import pytest

pytestmark = pytest.mark.integration


@pytest.mark.openresty("redis-counter")
def test_counter_counts_in_redis_through_a_pooled_connection(http, redis, nginx):
    bodies = [http.get("/count", params={"key": "hits"}).text.strip() for _ in range(5)]
    assert bodies == ["1", "2", "3", "4", "5"]
    assert redis.client().get("counter:hits") == "5"

    reused = int(http.get("/count", params={"key": "hits"}).headers["X-Redis-Reused"])
    assert reused >= 5, "set_keepalive should hand the same connection back to every request"
    clients = redis.observe.clients_by_address()
    assert clients[nginx.ip] == 1, f"one worker, one pooled connection; Redis sees {clients}"

    log = nginx.error_log()
    assert "[error]" not in log, log


def test_each_test_starts_with_an_empty_redis(redis, openresty):
    nginx = openresty("redis-counter")
    assert redis.client().get("counter:hits") is None
    with nginx.client() as client:
        assert client.get("/count?key=hits").text.strip() == "1"


def test_redis_down_is_a_500_with_the_error_logged(redis, openresty, harness_stage):
    nginx = openresty("redis-counter", env={"REDIS_HOST": "127.0.0.1"}, reuse=False)  # nothing listens there
    with nginx.client() as client:
        assert client.get("/count").status_code == 500
    assert "failed to connect redis: connection refused" in nginx.error_log()
