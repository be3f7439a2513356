"""Scenario: a Lua counter on Redis stays correct and pooled under a burst of requests.

The YAML scenario format arrives with the scenario issue; until then scenarios are pytest files
that use only the harness's fixtures, so they read like the catalogue entries they will become.
"""
import pytest


@pytest.mark.openresty("redis-counter", workers=2)
def test_burst_of_requests_counts_exactly_and_reuses_connections(http, redis, nginx):
    results = [http.get("/count", params={"key": "burst"}) for _ in range(200)]
    assert all(r.status_code == 200 for r in results)
    assert sorted(int(r.text) for r in results) == list(range(1, 201))
    assert redis.client().get("counter:burst") == "200"
    connections = redis.observe.clients_by_address()[nginx.ip]
    assert 1 <= connections <= 2, f"two workers, at most two pooled connections: {connections}"
    assert "[error]" not in nginx.error_log()
