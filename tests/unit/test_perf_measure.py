"""Measurement bookkeeping without Docker: schedules, pairing of rounds, CPU interpolation, JSON."""
import pytest

from harness.perf.measure import CpuSampler, Measurement, Round, RoundsSpec, schedule


def rnd(index, target, cpu_us=30.0, requests=1000, p99=2.0):
    return Round(index=index, target=target, start=100.0 + index, duration_s=1.0, requests=requests, failures={},
                 cpu_ns=int(cpu_us * 1000 * requests), percentiles_ms={"p50": 1.0, "p90": 1.5, "p99": p99,
                                                                       "p99.9": 3.0, "max": 4.0})


def test_schedules_balance_each_pair_against_drift():
    assert schedule(2, 8) == [0, 1, 1, 0, 0, 1, 1, 0]
    assert schedule(1, 3) == [0, 0, 0]
    assert sorted(schedule(3, 6)) == [0, 0, 1, 1, 2, 2]


def test_spec_checks_and_measured_time():
    assert RoundsSpec(rounds=30, round_s=1.0).measured_s == 30
    with pytest.raises(ValueError):
        RoundsSpec(interleave="sometimes")
    with pytest.raises(ValueError):
        RoundsSpec(rounds=1)


def test_round_figures():
    r = rnd(0, 0, cpu_us=25.0, requests=2000)
    assert r.cpu_us_per_request == pytest.approx(25.0) and r.rps == 2000 and r.metric("p99") == 2.0


def test_pairs_by_round_when_interleaving_requests_and_by_two_rounds_otherwise():
    mixed = Measurement(["a", "b"], RoundsSpec(rounds=2), [rnd(0, 0, 30), rnd(0, 1, 33), rnd(1, 0, 31), rnd(1, 1, 34)],
                        t0=100.0, wall_s=5, cpu_source="test")
    a, b = mixed.paired("cpu_us_per_request")
    assert list(a) == pytest.approx([30, 31]) and list(b) == pytest.approx([33, 34])
    rounds = Measurement(["a", "b"], RoundsSpec(rounds=4, interleave="rounds"),
                         [rnd(0, 0, 30), rnd(1, 1, 33), rnd(2, 1, 34), rnd(3, 0, 31)],
                         t0=100.0, wall_s=5, cpu_source="test")
    a, b = rounds.paired("cpu_us_per_request")
    assert list(a) == pytest.approx([30, 31]) and list(b) == pytest.approx([33, 34])
    assert list(rounds.values(1, "p99")) == [2.0, 2.0] and rounds.total_failures == 0


def test_json_round_trip():
    m = Measurement(["a", "b"], RoundsSpec(rounds=2, paths=("/x", "/y")), [rnd(0, 0), rnd(0, 1)], t0=100.0,
                    wall_s=5, cpu_source="test", meta={"k": 1})
    again = Measurement.from_json(m.to_json())
    assert again.rounds == m.rounds and again.spec == m.spec and again.meta == {"k": 1}


class FakeMeter:
    """CPU counters that grow 1 ms (total) and 0.25 ms (user) per call."""

    def __init__(self):
        self.calls = 0

    def usage_ns(self):
        self.calls += 1
        return self.calls * 1_000_000, self.calls * 250_000


def test_sampler_interpolates_between_samples():
    sampler = CpuSampler([FakeMeter()], interval=0.001)
    sampler.times, sampler.samples = [10.0, 11.0, 12.0], [[(0, 0)], [(1000, 100)], [(3000, 300)]]
    assert sampler.used_ns(0, 10.5, 11.5) == 1500
    assert sampler.used_ns(0, 10.0, 12.0, part=1) == 300
    with CpuSampler([FakeMeter()], interval=0.001) as live:
        pass
    assert len(live.times) >= 2 and live.error is None
