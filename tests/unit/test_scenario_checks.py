"""Expectations against synthetic outcomes, the summary table and the HTML report (no Docker)."""
from harness.report.html import write_html_report
from harness.report.summary import summary_table
from harness.scenarios.checks import check_responses, check_response, parse_sample
from harness.scenarios.runner import ScenarioResult, StepResult
from harness.scenarios.spec import ResponseExpect, matches
from harness.scenarios.traffic import Outcome

OK = Outcome("GET /", 200, "hello\n", {"content-type": "text/plain"}, 3.0)
SLOW = Outcome("GET /slow", 200, "hello\n", {}, 1200.0)
STALLED = Outcome("GET /", timed_out=True, elapsed_ms=1000.0)
RESET = Outcome("GET /", error="RemoteProtocolError: reset")


def failed(expect: dict, outcomes) -> list[str]:
    return [c.what for c in check_responses(ResponseExpect(**expect), outcomes) if not c.ok]


def test_status_body_and_headers():
    assert failed({"status": 200, "body": "hello\n", "headers": {"Content-Type": "text/.*"}}, [OK]) == []
    assert failed({"status": 500}, [OK]) == ["status 500"]
    assert failed({"status": [200, 502]}, [OK]) == []
    assert failed({"status": 200}, []) == ["status 200"], "no response never passes"
    check = check_responses(ResponseExpect(body="hello\nworld\n"), [OK])[0]
    assert not check.ok and "-world" in check.detail, "a body mismatch reads as a diff"


def test_counts_of_statuses_timeouts_and_broken_connections():
    outcomes = [OK, OK, STALLED, RESET]
    assert failed({"statuses": {200: 2}, "timeouts": 1, "errors": 1}, outcomes) == []
    assert failed({"timeouts": 0}, outcomes) == ["timeouts"]
    assert failed({"max_ms": 2000}, outcomes) != [], "a timed-out request is never within max_ms"


def test_latency_bounds():
    assert failed({"min_ms": 1000}, [SLOW]) == []
    assert failed({"max_ms": 1000}, [SLOW]) == ["every response took <= 1000 ms"]
    assert failed({"min_ms": 1000}, [OK, SLOW]) == ["every response took >= 1000 ms"]


def test_per_request_checks_are_labelled():
    [check] = check_response(ResponseExpect(status=404), OK, 2)
    assert check.what == "#2 GET /: status 404" and not check.ok
    assert "expected: 1 x [404]" in check.format() and "actual:   1 x 200" in check.format()


def test_prometheus_sample_names_and_patterns():
    assert parse_sample('nginx_http_requests_total{status="200",server="x"}') == (
        "nginx_http_requests_total", {"status": "200", "server": "x"})
    assert parse_sample("up") == ("up", {})
    assert matches("/is already (defined|declared)/", 'lua_shared_dict "cache" is already defined')
    assert matches("already", "is already defined") and not matches("/^already/", "is already")


def result(name: str, ok: bool) -> ScenarioResult:
    step = StepResult("1", outcomes=[OK, SLOW])
    step.checks = check_responses(ResponseExpect(status=200 if ok else 500), step.outcomes)
    return ScenarioResult(name, "x.scenario.yaml:3", [1], faulty=not ok, steps=[step],
                          error_log="2026/11/24 08:40:05 [error] 11#11: *13 boom", workers_after="pid ...")


def test_summary_table_and_html_report(tmp_path):
    results = [result("healthy twin", True), result("faulty one", False)]
    table = summary_table(results)
    assert "healthy twin" in table and "passed" in table and "failed" in table
    assert "1/1 checks failed" in table and "faulty on purpose" in table
    html = write_html_report(tmp_path / "r" / "scenarios.html", results, {"engine": "Docker 20.10"}).read_text()
    assert html.count('class="failed"') >= 1 and "data:image/png;base64," in html
    assert "[error] 11#11: *13 boom" in html and "Docker 20.10" in html


def png_width(encoded: str) -> int:
    import base64
    import struct
    return struct.unpack(">I", base64.b64decode(encoded)[16:20])[0]


def test_the_plot_has_a_panel_only_for_what_the_scenario_has():
    from harness.report.html import latency_plot
    series = [{"t": 0, "requests": 900, "failures": 0}, {"t": 1, "requests": 1000, "failures": 3}]
    load_and_one_request = ScenarioResult("s", "x:1", [], False, steps=[StepResult("1", outcomes=[OK], series=series)])
    load_and_requests = ScenarioResult("s", "x:1", [], False, steps=[StepResult("1", outcomes=[OK, SLOW], series=series)])
    one = png_width(latency_plot(load_and_one_request))  # the load series alone: no empty latency axes
    two = png_width(latency_plot(load_and_requests))
    assert 1.8 < two / one < 2.2
    assert latency_plot(ScenarioResult("s", "x:1", [], False, steps=[StepResult("1", outcomes=[OK])])) is None


class NoIO:
    """Stands for a container: any use of it during judgement is I/O the checks must not do."""

    def __getattr__(self, name):
        raise AssertionError(f"checks touched the container ({name})")


def test_checks_judge_the_snapshot_alone():
    from harness.errorlog import parse_error_log
    from harness.scenarios.checks import Observed, check_all
    from harness.scenarios.observe import Snapshot
    from harness.scenarios.spec import Expect

    log = parse_error_log("2026/11/24 08:40:05 [error] 11#11: *13 failed to connect redis: timeout\n")
    expect = Expect.model_validate({"status": 200, "error_log": ["failed to connect"], "no_error_log": ["[crit]"],
                                    "grep_error_log": {"timeout": 1}, "redis": {"keys": {"counter": "3"}}})
    seen = Observed(NoIO(), NoIO(), None, [OK], redis=NoIO(),
                    snapshot=Snapshot(log, "yes", "nginx-1", redis_keys={"counter": "2"}))
    verdicts = {c.what: (c.ok, c.actual) for c in check_all(expect, seen)}
    assert verdicts == {"status 200": (True, "1 x 200"), "error_log 'failed to connect'": (True, "1 entry"),
                        "no_error_log '[crit]'": (True, ""), "grep_error_log 'timeout'": (True, "1"),
                        "redis counter": (False, "'2'")}


def test_response_expectations_need_no_snapshot_but_log_ones_do():
    import pytest

    from harness.scenarios.checks import Observed, check_all
    from harness.scenarios.spec import Expect

    seen = Observed(NoIO(), NoIO(), None, [OK])
    assert [c.ok for c in check_all(Expect(status=200), seen)] == [True]
    with pytest.raises(ValueError, match="observe"):
        check_all(Expect.model_validate({"no_error_log": ["[error]"]}), seen)
