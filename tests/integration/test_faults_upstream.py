"""Catalogue 3: an upstream HTTP service (proxy_pass) refused, silent, or resetting, through the
fault proxy; the healthy path answers."""
import time

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def upstream_path(openresty, harness_stage):
    backend = openresty("hello", workers=1)
    proxy = harness_stage.fault_proxy({"backend": (8080, backend.ip, 8080)})
    front = openresty("http-upstream", workers=1, reuse=False,
                      env={"UPSTREAM_HOST": proxy.ip, "UPSTREAM_PORT": "8080"})
    client = front.client(timeout=10)
    assert client.get("/api/").text.startswith("hello from worker")
    try:
        yield front, client, proxy.route("backend")
    finally:
        client.close()
        proxy.stop()


@pytest.mark.parametrize("fault, status, message", [
    ("down", 502, "connect() failed (111: Connection refused) while connecting to upstream"),
    ("blackhole", 504, "upstream timed out (110: Connection timed out) while reading response header from upstream"),
    ("reset_peer", 502, "recv() failed (104: Connection reset by peer) while reading response header from upstream"),
])
def test_upstream_failures_map_to_gateway_errors_and_recover(upstream_path, fault, status, message):
    front, client, route = upstream_path
    with getattr(route, fault)():
        started = time.perf_counter()
        response = client.get("/api/")
        took = time.perf_counter() - started
    assert response.status_code == status
    assert took < 2.5, "bounded by proxy_*_timeout, not a hang"
    entry = front.log.assert_logged(message, level="error")[0]
    assert entry.upstream and entry.upstream.endswith(":8080/")
    assert client.get("/api/").status_code == 200
