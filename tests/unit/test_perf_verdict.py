"""The verdict's maths on synthetic samples: bootstrap intervals of ratios, pass/fail, tolerances."""
import numpy as np
import pytest

from harness.perf.verdict import Ratio, bootstrap_ratio, decide, judge, parse_tolerances

RNG_SEEDS = range(40)


def noisy_pair(rng, n=30, base=30.0, ratio=1.0, common=0.05, own=0.02):
    """Paired per-round samples: both sides share the round's machine noise (``common``) and have
    their own (``own``); the candidate costs ``ratio`` times the baseline."""
    shared = rng.lognormal(0, common, n)
    a = base * shared * rng.lognormal(0, own, n)
    b = base * ratio * shared * rng.lognormal(0, own, n)
    return a, b


def test_identical_samples_give_exactly_one_with_a_zero_width_interval():
    r = bootstrap_ratio([10, 11, 12, 13], [10, 11, 12, 13])
    assert r.estimate == 1 and r.low == 1 and r.high == 1 and r.n == 4


def test_the_interval_brackets_the_estimate_and_is_reproducible_with_a_seed():
    rng = np.random.default_rng(1)
    a, b = noisy_pair(rng, ratio=1.1)
    r1, r2 = bootstrap_ratio(a, b, seed=7), bootstrap_ratio(a, b, seed=7)
    assert r1 == r2
    assert r1.low < r1.estimate < r1.high


def test_the_interval_contains_the_true_ratio_about_as_often_as_it_claims():
    covered = 0
    for seed in range(200):
        a, b = noisy_pair(np.random.default_rng(seed), ratio=1.07)
        # the true ratio of the means: lognormal noise has mean exp(s^2/2) on both sides alike
        r = bootstrap_ratio(a, b, confidence=0.9, resamples=1000, seed=seed)
        covered += r.low <= 1.07 <= r.high
    assert 0.8 <= covered / 200 <= 0.97, covered


def test_pairing_cancels_the_noise_both_sides_share():
    a, b = noisy_pair(np.random.default_rng(3), common=0.15, own=0.01, ratio=1.05)
    paired, unpaired = bootstrap_ratio(a, b), bootstrap_ratio(a, b, paired=False)
    assert (paired.high - paired.low) < (unpaired.high - unpaired.low) / 4
    assert paired.low > 1  # the 5 % shows through the shared noise only when paired


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_an_a_a_pair_passes(seed):
    a, b = noisy_pair(np.random.default_rng(seed))
    verdict = decide({"cpu_us_per_request": (a, b)}, {"cpu_us_per_request": 0.03})
    assert verdict.passed and verdict.exit_code == 0, verdict.summary()


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_a_ten_percent_costlier_candidate_fails(seed):
    a, b = noisy_pair(np.random.default_rng(seed), ratio=1.10)
    verdict = decide({"cpu_us_per_request": (a, b), "rps": (a, a)}, {"cpu_us_per_request": 0.03})
    assert not verdict.passed and verdict.exit_code == 1
    cpu = verdict.metric("cpu_us_per_request")
    assert cpu.regressed and cpu.fails and 1.05 < cpu.ratio.estimate < 1.15
    assert "CPU per request" in verdict.summary() and "worse" in cpu.change


def test_a_regression_within_the_tolerance_passes_and_says_so():
    a, b = noisy_pair(np.random.default_rng(5), ratio=1.02, common=0.02, own=0.002)
    verdict = decide({"cpu_us_per_request": (a, b)}, {"cpu_us_per_request": 0.05})
    cpu = verdict.metric("cpu_us_per_request")
    assert verdict.passed and cpu.ratio.low > 1 and cpu.change.endswith("(worse, within tolerance)")


def test_a_large_but_unproven_change_passes():
    ratio = Ratio(estimate=1.2, low=0.9, high=1.5, confidence=0.95, n=3)
    assert not judge("cpu_us_per_request", ratio, 0.03).regressed


def test_throughput_regresses_downwards_and_ungated_metrics_never_fail():
    ratio = Ratio(estimate=0.8, low=0.75, high=0.85, confidence=0.95, n=30)
    assert judge("rps", ratio, 0.1).fails
    assert judge("rps", ratio, None).regressed and not judge("rps", ratio, None).fails
    assert judge("p99", ratio, 0.1).improved and not judge("p99", ratio, 0.1).regressed
    a, b = noisy_pair(np.random.default_rng(2), ratio=1.3)
    verdict = decide({"cpu_us_per_request": (a, a), "p99": (a, b)}, {"cpu_us_per_request": 0.03})
    assert verdict.passed and verdict.metric("p99").regressed


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        bootstrap_ratio([1.0], [1.0])
    with pytest.raises(ValueError):
        bootstrap_ratio([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        bootstrap_ratio([1.0, 2.0], [1.0, 2.0], confidence=95)
    with pytest.raises(ValueError):
        decide({"rps": ([1.0, 2.0], [1.0, 2.0])}, {"cpu_us_per_request": 0.03})


def test_tolerances_parse_with_short_names():
    assert parse_tolerances([], 0.03) == {"cpu_us_per_request": 0.03}
    assert parse_tolerances(["cpu=0.05", "throughput=0.1", "p99=0.25"], 0.03) == {
        "cpu_us_per_request": 0.05, "rps": 0.1, "p99": 0.25}
    for bad in ("p42=0.1", "cpu", "cpu=-1"):
        with pytest.raises(ValueError):
            parse_tolerances([bad], 0.03)
