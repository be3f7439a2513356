"""ContainerPool and its prefetcher, on stand-in containers: what is reused, switched, prepared
ahead and removed."""
from __future__ import annotations

import pytest

from harness.errors import NginxConfigError
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec
from harness.pool import ContainerPool, OpenRestyPlan
from harness.prefetch import DEPTH


class FakeOpenResty:
    """What the pool uses of an OpenRestyContainer."""

    def __init__(self, spec: OpenRestySpec) -> None:
        self.spec, self.fixture = spec, spec.fixture
        self.started = self.stopped = False
        self.well = True
        self.switches: list[str] = []
        self.hand_outs = 0
        self.single_use = False
        self.identity = {"jit": "LuaJIT 2.1"}
        self.resolved = type("Image", (), {"id": "sha256:img"})()
        self.name = f"fake-{id(self)}"

    def start(self):
        self.started = True
        return self

    def shape(self):
        return self.spec.shape("sha256:img", self.spec.env)

    def healthy(self) -> bool:
        return self.well and not self.stopped

    def switch(self, fixture: Fixture, timeout: float = 15.0) -> None:
        if "broken" in fixture.name:
            raise NginxConfigError(f"nginx -t rejected fixture {fixture.name!r}", "")
        self.switches.append(fixture.name)
        self.fixture = fixture

    def hand_out(self) -> None:
        self.hand_outs += 1

    def stop_quietly(self) -> None:
        self.stopped = True


def fixture(name: str) -> Fixture:
    return Fixture.inline(name, config=f"return 200 {name};")


def planner(built: list[FakeOpenResty]):
    def plan(spec: OpenRestySpec) -> OpenRestyPlan:
        def build() -> FakeOpenResty:
            built.append(FakeOpenResty(spec))
            return built[-1]
        return OpenRestyPlan(spec, spec.shape("sha256:img", spec.env), spec.reuse is not False, build)
    return plan


def test_a_released_container_is_switched_to_the_next_fixture_of_its_shape():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    first = pool.acquire(OpenRestySpec.of(fixture("a")))
    pool.release(first)
    second = pool.acquire(OpenRestySpec.of(fixture("b")))
    assert second is first and first.switches == ["b"] and len(built) == 1 and first.hand_outs == 2
    other_shape = pool.acquire(OpenRestySpec.of(fixture("c"), workers=2))
    assert other_shape is not first and len(built) == 2


def test_single_use_and_unhealthy_containers_are_removed_not_kept():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    fresh = pool.acquire(OpenRestySpec.of(fixture("a"), reuse=False))
    pool.release(fresh)
    assert fresh.stopped and pool.idle == []
    sick = pool.acquire(OpenRestySpec.of(fixture("a")))
    sick.well = False
    pool.release(sick)
    assert sick.stopped and pool.idle == []


def test_the_pool_keeps_the_prefetch_depth_plus_the_one_in_use():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    assert pool.max_idle == DEPTH + 1 == pool.prefetcher.depth + 1
    held = [pool.acquire(OpenRestySpec.of(fixture(f"f{n}"), env={"N": str(n)})) for n in range(DEPTH + 3)]
    for container in held:
        pool.release(container)
    assert len(pool.idle) == DEPTH + 1
    assert [c.stopped for c in held] == [True, True] + [False] * (DEPTH + 1)  # the longest idle went


def test_a_prefetched_container_is_handed_over_ready():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    pool.release(pool.acquire(OpenRestySpec.of(fixture("a"))))
    plans = [pool.plan(OpenRestySpec.of(fixture(name))) for name in ("now", "next")]
    pool.prefetcher.plan_ahead(plans)
    ready = pool.acquire(plans[1])
    assert ready.switches == ["next"] and pool.prefetcher.hits == 1 and ready in pool.busy
    pool.close()
    assert ready.stopped


def test_specs_can_be_planned_ahead_directly():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    specs = [OpenRestySpec.of(fixture(name)) for name in ("now", "next", "later")]
    pool.plan_ahead(specs)
    assert [c.fixture.name for c in (pool.acquire(specs[2]), pool.acquire(specs[1]))] == ["later", "next"]
    assert pool.prefetcher.hits == 2 and len(built) == 2


def test_a_config_nginx_refuses_leaves_the_container_in_the_pool():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    kept = pool.acquire(OpenRestySpec.of(fixture("a")))
    pool.release(kept)
    with pytest.raises(NginxConfigError):
        pool.acquire(OpenRestySpec.of(fixture("broken")))
    assert pool.idle == [kept] and not kept.stopped
