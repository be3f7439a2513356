"""ContainerPool and its prefetcher, on stand-in containers: what is reused, switched, prepared
ahead and removed."""
from __future__ import annotations

import time

import pytest

from harness.errors import NginxConfigError
from harness.nginx_conf import Fixture
from harness.openresty_spec import OpenRestySpec
from harness.pool import PATIENCE, PER_SHAPE, SHAPES_KEPT, SPARE, ContainerPool, OpenRestyPlan
from harness.prefetch import DEPTH
from harness.waiting import wait_for


class FakeOpenResty:
    """What the pool uses of an OpenRestyContainer."""

    def __init__(self, spec: OpenRestySpec) -> None:
        self.spec, self.fixture = spec, spec.fixture
        self.started = self.stopped = False
        self.well = True
        self.switches: list[str] = []
        self.rejected = 0
        self.hand_outs = 0
        self.identity = {"jit": "LuaJIT 2.1"}
        self.resolved = type("Image", (), {"id": "sha256:img"})()
        self.name = f"fake-{id(self)}"
        self.reloaded_at = 0.0

    def start(self):
        if "broken" in self.fixture.name:
            raise NginxConfigError(f"nginx -t rejected fixture {self.fixture.name!r}", "")
        self.started = True
        return self

    def shape(self):
        return self.spec.shape("sha256:img", self.spec.env)

    def healthy(self) -> bool:
        return self.well and not self.stopped

    def switch(self, fixture: Fixture, timeout: float = 15.0, spec: OpenRestySpec | None = None) -> None:
        if "broken" in fixture.name:
            self.rejected += 1
            raise NginxConfigError(f"nginx -t rejected fixture {fixture.name!r}", "")
        self.switches.append(fixture.name)
        self.fixture = fixture
        self.spec = spec or self.spec
        self.last_switch = {"total": 1.0}
        self.reloaded_at = time.monotonic()

    def hand_out(self) -> None:
        self.hand_outs += 1

    def complete_identity(self) -> bool:
        return False  # started with the whole identity (see __init__)

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
    other_shape = pool.acquire(OpenRestySpec.of(fixture("c"), init=True))
    assert other_shape is not first and len(built) == 2
    pool.release(second)
    more_workers = pool.acquire(OpenRestySpec.of(fixture("d"), workers=2, error_log_level="debug"))
    assert more_workers is first and first.switches == ["b", "d"] and first.spec.workers == 2


def test_the_idle_container_whose_master_reloaded_longest_ago_is_switched_next():
    # a master sleeps 100 ms with its signals blocked after each reload: the one that came back
    # last was switched just before its block ran, and would make the next switch wait
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    a, b = pool.acquire(OpenRestySpec.of(fixture("a"))), pool.acquire(OpenRestySpec.of(fixture("b")))
    a.reloaded_at, b.reloaded_at = 2.0, 1.0  # a reloaded after b
    pool.release(b)
    pool.release(a)  # a came back last
    assert pool.acquire(OpenRestySpec.of(fixture("c"))) is b and b.switches == ["c"]


def test_single_use_and_unhealthy_containers_are_removed_not_kept():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    fresh = pool.acquire(OpenRestySpec.of(fixture("a"), reuse=False))
    pool.release(fresh)
    pool.drain()  # removal runs in the background
    assert fresh.stopped and pool.idle == []
    sick = pool.acquire(OpenRestySpec.of(fixture("a")))
    sick.well = False
    pool.release(sick)
    pool.drain()
    assert sick.stopped and pool.idle == []


def test_the_pool_keeps_the_prefetch_depth_plus_the_one_in_use():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    assert pool.max_idle == DEPTH + 1 == pool.prefetcher.depth + 1
    held = [pool.acquire(OpenRestySpec.of(fixture(f"f{n}"), env={"N": str(n)})) for n in range(DEPTH + 3)]
    for container in held:
        pool.release(container)
    pool.drain()
    assert len(pool.idle) == DEPTH + 1
    assert [c.stopped for c in held] == [True, True] + [False] * (DEPTH + 1)  # the longest idle went


def test_blocks_in_lanes_alternating_between_two_shapes_keep_each_shapes_containers():
    # lua-resty-jwt: blocks that name a host directory (another mount, another shape) and blocks that do
    # not, in 4 lanes; with the prefetch depth's idle containers alone, each shape evicted the other's
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    pool.allow_concurrent(4)
    assert pool.max_idle == SHAPES_KEPT * pool.per_shape > DEPTH + 1
    pool.allow_concurrent(2)  # fewer lanes for a moment: nothing kept goes
    assert pool.max_idle == SHAPES_KEPT * (4 + PER_SHAPE - 1)
    for round_ in range(3):
        held = [pool.acquire(OpenRestySpec.of(fixture(f"r{round_}-{shape}-{n}"), env={"SHAPE": shape}))
                for shape in ("a", "b") for n in range(pool.per_shape)]
        for container in held:
            pool.release(container)
    pool.drain()
    assert len(built) == 2 * pool.per_shape and not any(c.stopped for c in built)  # started once, switched since


def test_a_prefetched_container_is_handed_over_ready():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    pool.release(pool.acquire(OpenRestySpec.of(fixture("a"))))
    plans = [pool.plan(OpenRestySpec.of(fixture(name))) for name in ("now", "next")]
    pool.prefetcher.plan_ahead(plans)  # the one about to run is prepared too (the idle one goes to it)
    now, ready = pool.acquire(plans[0]), pool.acquire(plans[1])
    assert now.switches == ["now"] and ready.fixture.name == "next" and pool.prefetcher.hits == 2
    assert list(pool.switches) == [{"total": 1.0}]  # each switch's steps are kept for the benchmarks
    assert ready in pool.busy and len(built) == 2
    pool.close()
    assert ready.stopped


def test_specs_can_be_planned_ahead_directly():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    specs = [OpenRestySpec.of(fixture(name)) for name in ("now", "next", "later")]
    pool.plan_ahead(specs)
    assert [c.fixture.name for c in (pool.acquire(specs[2]), pool.acquire(specs[1]))] == ["later", "next"]
    assert pool.prefetcher.hits == 2 and len(built) == 3


def test_a_config_nginx_refuses_leaves_the_container_in_the_pool():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    kept = pool.acquire(OpenRestySpec.of(fixture("a")))
    pool.release(kept)
    with pytest.raises(NginxConfigError):
        pool.acquire(OpenRestySpec.of(fixture("broken")))
    assert pool.idle == [kept] and not kept.stopped


def test_preparations_ahead_wait_for_a_container_to_come_back_once_enough_of_its_shape_exist():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    in_use = pool.acquire(OpenRestySpec.of(fixture("now")))
    plans = [pool.plan(OpenRestySpec.of(fixture(f"next{n}"))) for n in range(3)]
    pool.prefetcher.want(plans[0])
    pool.prefetcher.want(plans[1])
    ready = [pool.acquire(plans[0]), pool.acquire(plans[1])]  # each started: fewer than PER_SHAPE existed
    assert len(built) == PER_SHAPE == 3
    pool.prefetcher.want(plans[2])
    wait_for(lambda: pool.waiting == 1, timeout=5, what="the third preparation to wait")
    pool.release(in_use)  # it takes this one back instead of starting a fourth
    third = pool.acquire(plans[2])
    assert third is in_use and third.switches == ["next2"] and len(built) == 3 and pool.waiting == 0
    assert pool.prefetcher.hits == 3
    for container in (*ready, third):
        pool.release(container)
    pool.close()


def test_a_preparation_wanted_now_starts_a_container_rather_than_wait():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    held = [pool.acquire(OpenRestySpec.of(fixture(f"held{n}"))) for n in range(PER_SHAPE)]
    plan = pool.plan(OpenRestySpec.of(fixture("wanted")))
    pool.prefetcher.want(plan)  # waits: PER_SHAPE of its shape exist and none is idle
    wait_for(lambda: pool.waiting == 1, timeout=5, what="the preparation to wait")
    started = time.monotonic()
    wanted = pool.acquire(plan)  # take() hurries it: nothing will come back while these are held
    assert time.monotonic() - started < PATIENCE / 2
    assert wanted not in held and wanted.fixture.name == "wanted" and len(built) == PER_SHAPE + 1
    pool.close()


def test_a_config_rejected_ahead_is_the_acquirers_error_without_a_second_nginx_t():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    kept = pool.acquire(OpenRestySpec.of(fixture("a")))
    pool.release(kept)
    broken = pool.plan(OpenRestySpec.of(fixture("broken")))
    pool.prefetcher.want(broken)
    with pytest.raises(NginxConfigError, match="broken"):
        pool.acquire(broken)
    assert kept.rejected == 1 and pool.idle == [kept]


def test_a_shape_whose_first_fixture_nginx_refuses_gets_a_spare_container_to_switch():
    built: list[FakeOpenResty] = []
    pool = ContainerPool(planner(built))
    with pytest.raises(NginxConfigError):
        pool.acquire(OpenRestySpec.of(fixture("broken-first")))
    wait_for(lambda: pool.idle, timeout=5, what="the spare container")
    spare = pool.idle[0]
    assert spare.fixture.name == SPARE.name and spare.started and len(built) == 2
    with pytest.raises(NginxConfigError):  # the next refusal is a switch's nginx -t, not a start
        pool.acquire(OpenRestySpec.of(fixture("broken-second")))
    assert spare.rejected == 1 and pool.idle == [spare] and len(built) == 2
    assert pool.acquire(OpenRestySpec.of(fixture("fine"))) is spare
    pool.close()
