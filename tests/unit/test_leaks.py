import pytest

from harness.leaks import LeakReport, LeakSample, slope_per_1000


def report(values_by_round, warmup=1, per_round=100, thresholds=None, floors=None):
    samples = [LeakSample(per_round * (i + 1), v) for i, v in enumerate(values_by_round)]
    return LeakReport(samples, thresholds or {"worker_fds": 5.0}, warmup, floors or {})


def test_slope_is_growth_per_1000_requests():
    assert slope_per_1000([100, 200, 300], [10, 20, 30]) == pytest.approx(100.0)
    with pytest.raises(ValueError):
        slope_per_1000([100, 100], [1, 2])


def test_steady_series_passes_and_growing_one_fails():
    steady = report([{"worker_fds": 50}, {"worker_fds": 12}, {"worker_fds": 12}, {"worker_fds": 13}, {"worker_fds": 12}])
    steady.assert_no_leak()  # the warm-up jump (50 -> 12) is left out of the fit
    growing = report([{"worker_fds": 12}, {"worker_fds": 112}, {"worker_fds": 212}, {"worker_fds": 312}])
    with pytest.raises(AssertionError, match=r"worker_fds: \+1000.0 per 1000 requests \(threshold 5\), \+200 in all"):
        growing.assert_no_leak()
    growing.assert_leaks("worker_fds")
    with pytest.raises(AssertionError, match="expected a leak in worker_fds"):
        steady.assert_leaks("worker_fds")


def test_metrics_without_a_threshold_never_count_as_leaks():
    r = report([{"other": 1}, {"other": 100}, {"other": 200}])
    assert r.leaking == [] and r.verdicts["other"].per_1000_requests == pytest.approx(1000.0)


def test_one_step_below_the_floor_is_not_a_leak():
    rss = [{"worker_rss_kb": v} for v in (15000, 15992, 16252, 16252)]
    assert report(rss, thresholds={"worker_rss_kb": 1024}, floors={"worker_rss_kb": 1024}).leaking == []
    assert report(rss, thresholds={"worker_rss_kb": 1024}).verdicts["worker_rss_kb"].leaking  # no floor: fooled
