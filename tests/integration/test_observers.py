"""What Redis and the Prometheus endpoint report, checked against the traffic the test sent."""
import pytest

from harness.metrics import scrape

pytestmark = pytest.mark.integration


@pytest.mark.openresty("redis-counter", workers=2)
def test_redis_sees_at_most_one_pooled_connection_per_worker(http, redis, nginx):
    for _ in range(50):
        assert http.get("/count").status_code == 200
    by_address = redis.observe.clients_by_address()
    assert set(by_address) == {nginx.ip}  # the fixture closed every other client's connection
    assert 1 <= by_address[nginx.ip] <= 2
    assert redis.observe.connected_clients() == by_address[nginx.ip]
    info = redis.observe.info("total_connections_received", "total_commands_processed")
    assert info["total_commands_processed"] >= 50
    with pytest.raises(KeyError, match="no_such_field"):
        redis.observe.info("no_such_field")


def test_metrics_count_exactly_the_requests_sent(openresty):
    nginx = openresty("metrics", workers=2, ports=(8099,))
    url = nginx.url(8099, "/metrics")
    before = scrape(url)
    with nginx.client() as client:
        for _ in range(7):
            assert client.get("/ok").status_code == 200
        for _ in range(3):
            assert client.get("/missing").status_code == 404
        for _ in range(2):
            assert client.get("/slow", params={"ms": 150}).status_code == 200
    nginx.settle()  # the counters are written in log_by_lua, after each response
    after = scrape(url)
    requests = "nginx_http_requests_total"
    assert after.delta(before, requests) == 12  # the harness's own requests (settle, log reads) never count
    assert after.delta(before, requests, server="localhost", status="200") == 9
    assert after.delta(before, requests, server="localhost", status="404") == 3
    assert after.delta(before, "nginx_http_request_duration_seconds_count", server="localhost") == 12
    assert after.delta(before, "nginx_http_request_duration_seconds_bucket", le="0.1") == 10
    assert after.delta(before, "nginx_http_request_duration_seconds_bucket", le="+Inf") == 12
    # $request_time has millisecond resolution and ngx.sleep may wake a millisecond early
    assert after.delta(before, "nginx_http_request_duration_seconds_sum") >= 2 * 0.148
    assert after.value("nginx_http_connections", state="waiting") >= 0
    nginx.log.assert_not_logged("exporter:")
