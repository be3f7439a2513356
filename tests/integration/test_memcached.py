"""memcached, a declared service: HTTP -> Lua (memcached's text protocol on a pooled cosocket) -> a
real memcached, from pytest (the memcached fixture declares it) and from YAML (``services: [memcached]``)."""
import pytest

from harness.scenarios import ScenarioRunner, load_file

pytestmark = pytest.mark.integration


@pytest.mark.openresty("memcached-counter")
def test_counter_counts_in_memcached_through_a_pooled_connection(http, memcached, nginx):
    bodies = [http.get("/count", params={"key": "hits"}).text.strip() for _ in range(5)]
    assert bodies == ["1", "2", "3", "4", "5"]
    assert memcached.client().get("counter:hits") == b"5"
    reused = int(http.get("/count", params={"key": "hits"}).headers["X-Memcached-Reused"])
    assert reused >= 5, "setkeepalive should hand the same connection back to every request"
    assert "[error]" not in nginx.error_log()


def test_each_test_starts_with_an_empty_memcached(memcached, openresty):
    nginx = openresty("memcached-counter")
    assert memcached.client().get("counter:hits") is None
    with nginx.client() as client:
        assert client.get("/count?key=hits").text.strip() == "1"


@pytest.mark.allow_log_problems("failed to connect memcached")
def test_without_the_declaration_openresty_has_no_memcached(openresty, harness_stage):
    """The address comes from the declaration alone: a test that does not declare memcached gets none,
    even while the session's memcached runs (the healthy side is the tests above)."""
    harness_stage.services.use("memcached")
    nginx = openresty("memcached-counter")
    assert "MEMCACHED_HOST" not in nginx.env
    with nginx.client() as client:
        assert client.get("/count").status_code == 500
    assert "failed to connect memcached" in nginx.error_log()


SCENARIO = """
scenarios:
  - name: memcached counts through a pooled connection
    fixture: memcached-counter
    services: [memcached]
    steps:
      - requests:
          - GET /count?key=a
          - GET /count?key=a
          - GET /count?key=b
        expect: {status: 200, bodies: ["1\\n", "2\\n", "1\\n"], no_error_log: ["[error]"]}
  - name: every scenario starts with an empty memcached
    fixture: memcached-counter
    services: [memcached]
    steps:
      - request: GET /count?key=a
        expect: {status: 200, body: "1\\n"}
  - name: without services memcached is not there
    fixture: memcached-counter
    allow_log_problems: true
    steps:
      - request: GET /count?key=a
        expect: {status: 500, error_log: ["failed to connect memcached"]}
"""


def test_yaml_services_memcached(tmp_path, harness_stage):
    path = tmp_path / "memcached.scenario.yaml"
    path.write_text(SCENARIO)
    runner = ScenarioRunner(harness_stage)
    try:
        results = [runner.run(loaded) for loaded in load_file(path)]
    finally:
        runner.close()
    assert [r.verdict for r in results] == ["passed"] * 3, "\n".join(r.format() for r in results)
