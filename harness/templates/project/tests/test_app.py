"""Tests of your app (../app) on real containers: run `pytest` (the harness's pytest plugin is installed
with it). Fixture reference: the README of openresty-harness."""
from pathlib import Path

import pytest

APP = str(Path(__file__).resolve().parent.parent / "app")


@pytest.mark.openresty(APP)
def test_hello(http, nginx):
    response = http.get("/")
    assert response.status_code == 200
    assert response.text == "hello, world\n"
    nginx.log.assert_not_logged("[error]")


@pytest.mark.openresty(APP)
def test_visits_are_counted_in_redis(redis, http):
    assert http.get("/visits").text == "1\n"
    assert http.get("/visits").text == "2\n"
    assert redis.client().get("visits") == "2"


@pytest.mark.openresty(APP)
def test_redis_refusing_gives_503_then_recovers(redis, redis_fault, http, nginx):
    with redis_fault.refusing():
        assert http.get("/visits").status_code == 503
    nginx.log.assert_logged("failed to connect redis: connection refused")
    assert http.get("/visits").status_code == 200
