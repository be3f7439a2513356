"""Declared services (no Docker): names checked, the placeholders that declare a service, the route to
one through a fault proxy, and the session object that starts each once, whichever thread asks."""
import threading
import time

import pytest

from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec
from harness.errors import HarnessError
from harness.services import SERVICES, SessionServices, checked, env_through, named_in, route_to


class FakeService:
    started = 0

    def __init__(self, name: str) -> None:
        self.name = name
        self.ip = f"10.0.0.{len(name)}"
        self.up = False
        self.resets = 0

    def with_start_timeout(self, seconds):
        return self

    def start(self):
        time.sleep(0.05)  # long enough for a second thread to ask meanwhile
        FakeService.started += 1
        self.up = True
        return self

    def stop_quietly(self):
        self.up = False

    def running(self):
        return self.up

    def service_env(self):
        return {f"{self.name.upper()}_HOST": self.ip}

    def reset(self):
        self.resets += 1


@pytest.fixture
def services(monkeypatch):
    FakeService.started = 0
    for name, definition in SERVICES.items():
        monkeypatch.setitem(SERVICES, name, definition.__class__(**{**definition.__dict__,
                                                                    "build": lambda image, session, reach, options, n=name: FakeService(n)}))
    return SessionServices(lambda kind: kind, None, lambda: None, 5.0)


def test_names_are_checked_sorted_and_once():
    assert checked(["redis", "dns", "redis"]) == ("dns", "redis")
    with pytest.raises(ValueError, match=r"unknown service 'mysql' \(services: redis, dns, memcached, redis_replicated, redis_sentinel, redis_cluster\)"):
        checked(["mysql"])


def test_a_spec_names_its_services_and_they_are_part_of_its_shape():
    fixture = Fixture.inline(config="location / { return 200; }")
    spec = OpenRestySpec.of(fixture, services=["memcached", "redis"])
    assert spec.services == ("memcached", "redis")
    assert spec.shape("img", {}).services == ("memcached", "redis")
    assert spec.shape("img", {}) != OpenRestySpec.of(fixture).shape("img", {})
    with pytest.raises(HarnessError, match="unknown service 'mysql'"):
        OpenRestySpec.of(fixture, services=["mysql"])


def test_placeholders_declare_services():
    text = "resolver ${DNS_SERVER};\nset $m ${MEMCACHED_PORT};\n# $REDIS_HOST is nginx's own variable"
    assert named_in(text) == ("dns", "memcached")
    assert named_in("connect(${REDIS_HOST}, ${REDIS_PORT})") == ("redis",)


def test_the_route_to_a_service_and_the_env_that_goes_through_it():
    redis = FakeService("redis")
    assert route_to("redis", redis) == {"redis": (6379, redis.ip, 6379)}
    assert env_through("redis", "10.9.9.9") == {"REDIS_HOST": "10.9.9.9"}
    assert route_to("memcached", redis)["memcached"][0] == 11211


def test_each_service_starts_once_however_many_threads_ask(services):
    envs = []
    threads = [threading.Thread(target=lambda: envs.append(services.env(["redis", "memcached"]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert FakeService.started == 2
    assert len({tuple(sorted(e.items())) for e in envs}) == 1
    assert set(services.running()) == {"redis", "memcached"}
    assert services.env([]) == {}


def test_a_stopped_service_is_started_again_on_use_and_reset(services):
    redis = services.use("redis")
    redis.up = False
    again = services.reset("redis")
    assert again is not redis and again.resets == 1 and FakeService.started == 2
    services.close()
    assert not again.up and services.running() == {}


def test_topologies_are_services_whose_variables_are_their_own():
    """A topology's placeholders declare it alone (a .t file naming ${REDIS_HOST} gets the single Redis)."""
    for name in ("redis_replicated", "redis_sentinel", "redis_cluster"):
        assert SERVICES[name].image == "redis"
        assert not set(SERVICES[name].env) & set(SERVICES["redis"].env), name
    assert named_in("${REDIS_SENTINELS}") == ("redis_sentinel",)
    assert named_in("${REDIS_CLUSTER_NODES} ${REDIS_HOST}") == ("redis", "redis_cluster")


def test_a_tests_own_topology_is_the_service_until_the_block_ends(services):
    session = services.use("redis_sentinel")
    own = FakeService("own")
    own.up = True
    with services.provided("redis_sentinel", own):
        assert services.use("redis_sentinel") is own and services.env(["redis_sentinel"]) == {"OWN_HOST": own.ip}
    assert services.use("redis_sentinel") is session and own.up  # the caller stops its own
    with services.provided("redis_cluster", own):
        pass
    assert services.get("redis_cluster") is None
