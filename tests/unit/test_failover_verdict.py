"""FailoverVerdict judges a probe's samples: each promise breaks on its own evidence."""
from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.topologies.events import EventLog, Switch
from harness.topologies.probe import Sample
from harness.topologies.verdict import FailoverVerdict

GOOD = ""
VERDICT = FailoverVerdict(max_outage_s=2.5, replication_window_s=0.5)
SWITCH = Switch(at=12.0, old="10.0.0.2:6379", new="10.0.0.3:6379")


def samples(*steps: tuple[float, str]) -> list[Sample]:
    return [Sample(at, detail == GOOD, detail.startswith("wrong"), detail) for at, detail in steps]


def acked(**keys: float) -> dict[str, tuple[float, str]]:
    return {key: (at, key.upper()) for key, at in keys.items()}


def everything_there(keys):
    return [k.upper() for k in keys]


def test_a_short_outage_with_nothing_lost_passes():
    run = samples((9.0, GOOD), (10.1, "set 500"), (11.0, "set ReadTimeout"), (12.5, GOOD), (13.0, GOOD))
    report = VERDICT.judge(run, acked(a=9.0, b=12.5), 10.0, SWITCH, everything_there)
    assert report.ok, report.text()
    assert report.outage_s == pytest.approx(2.4)
    assert report.first_good_after_switch == 12.5
    assert "+2.00s 10.0.0.3:6379 promoted" in report.timeline()


def test_an_outage_longer_than_allowed_breaks_the_promise():
    run = samples((9.0, GOOD), (10.0, "set 500"), (12.9, "set 500"), (13.0, GOOD))
    report = VERDICT.judge(run, {}, 10.0, SWITCH, everything_there)
    assert report.problems == ["requests failed for 3.00s (at most 2.5s allowed)"]


def test_never_recovering_is_an_unbounded_outage():
    run = samples((9.0, GOOD), (10.0, "set 500"), (14.0, "set 500"))
    report = VERDICT.judge(run, {}, 10.0, SWITCH, everything_there)
    assert report.outage_s is None
    assert "still failed when the probe stopped (set 500)" in report.problems[0]
    assert "first good answer after it never" in report.timeline()


def test_wrong_answers_are_named():
    run = samples((9.0, GOOD), (10.0, "wrong: get 'nil' != '7'"), (12.1, GOOD))
    report = VERDICT.judge(run, {}, 10.0, SWITCH, everything_there)
    assert len(report.wrong) == 1 and report.problems == ["1 wrong answers, e.g. wrong: get 'nil' != '7'"]


def test_lost_writes_outside_the_replication_window_break_the_promise():
    run = samples((9.0, GOOD), (12.5, GOOD))
    writes = acked(old=8.0, recent=9.8, late=12.5)
    report = VERDICT.judge(run, writes, 10.0, SWITCH, lambda keys: [None] * len(keys))
    assert report.lost == ["late", "old"]         # 2 s before the fault; after it (an isolated master's)
    assert report.lost_allowed == ["recent"]      # within 0.5 s before it: not yet replicated
    assert report.problems == ["2 acknowledged writes lost, e.g. ['late', 'old']"]


def test_failures_after_the_first_good_answer_mean_dead_pooled_connections():
    run = samples((9.0, GOOD), (10.0, "set 500"), (12.2, GOOD), (12.4, "get 500"), (13.4, "get ConnectError"),
                  (13.6, GOOD))
    report = VERDICT.judge(run, {}, 10.0, SWITCH, everything_there)
    # within the grace (1 s) after the first good answer: the configuration still spreading
    assert [s.detail for s in report.failures_after_recovery] == ["get ConnectError"]
    assert any("dead pooled connections" in p for p in report.problems)


def test_no_sample_is_bad_input():
    with pytest.raises(HarnessError, match="start it before the fault"):
        VERDICT.judge([], {}, 10.0, SWITCH, everything_there)


def test_switch_master_events_are_parsed():
    events = EventLog()
    events.record("+sdown", "master mymaster 10.0.0.2 6379", at=1.0)
    events.record("+switch-master", "mymaster 10.0.0.2 6379 10.0.0.3 6379", at=2.5)
    assert events.switches() == [Switch(2.5, "10.0.0.2:6379", "10.0.0.3:6379")]
    assert events.first("+sdown").at == 1.0 and events.first("+sdown", after=2.0) is None
    assert "+  1.500s +switch-master" in events.text()


def test_a_write_replication_may_lose_is_no_wrong_answer_when_it_reads_back_missing():
    run = [Sample(9.9, False, True, "get 'nil' != 'RECENT'", key="recent"),
           Sample(10.5, False, True, "get 'nil' != 'LATE'", key="late"), Sample(12.5, True, False, "", key="x")]
    report = VERDICT.judge(run, acked(recent=9.8, late=10.4), 10.0, SWITCH, lambda keys: [None] * len(keys))
    assert [s.key for s in report.wrong] == ["late"]  # acknowledged after the fault was in place
    assert report.lost_allowed == ["recent"]
