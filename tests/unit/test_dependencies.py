"""Dependency counters and their verdicts on synthetic readings; the sidecars' own counting (no Docker)."""
import pytest
from dnslib import DNSRecord

from harness.containers.dns import DnsQuery
from harness.containers.fault_proxy import RouteCounters
from harness.dependencies import DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST, RedisCounters, Snapshot
from harness.leaks import LeakReport, LeakSample
from harness.scenarios.checks import Observed, check_all
from harness.scenarios.spec import Expect
from harness.scenarios.traffic import Outcome
from harness.sidecars import dns_server, fault_proxy


def snapshots(received=(10, 110), own=(3, 4), clients=({7: 5}, {7: 6}), accepted=(2, 52), requests=(2, 52),
              queries=()):
    before = Snapshot(100.0, RedisCounters(received[0], own[0], clients[0]),
                      {"upstream": RouteCounters(accepted[0], requests[0], 10, 20, 1)})
    after = Snapshot(101.5, RedisCounters(received[1], own[1], clients[1]),
                     {"upstream": RouteCounters(accepted[1], requests[1], 60, 220, 1)}, tuple(queries))
    return before, after


def test_new_connections_leave_out_the_harness_own_and_kept_ones_are_told():
    before, after = snapshots(clients=({7: 5, 8: 1}, {7: 6, 9: 0}))
    delta = after.delta(before)
    assert delta.seconds == pytest.approx(1.5)
    assert delta.redis.new_connections == 99  # 100 received, one of them redis-cli's
    assert (delta.redis.kept, delta.redis.opened_still_open, delta.redis.ages) == (1, 1, (6,))
    route = delta.routes["upstream"]
    assert (route.connections, route.requests, route.bytes_upstream, route.bytes_downstream) == (50, 50, 50, 200)


def test_usage_per_request_and_pool_reuse_against_the_threshold():
    churn = snapshots()[1].delta(snapshots()[0]).usage(requests=100)
    assert churn["redis"].new_connections_per_request == pytest.approx(0.99) and churn["redis"].churning
    assert churn["proxy.upstream"].pool_reuse == 0.0 and churn["proxy.upstream"].churning
    before, after = snapshots(received=(10, 12), own=(3, 3), accepted=(2, 2), requests=(2, 102))
    pooled = after.delta(before).usage(requests=100)
    assert pooled["redis"].new_connections_per_request == pytest.approx(0.02) and not pooled["redis"].churning
    assert pooled["proxy.upstream"].pool_reuse == 1.0
    assert pooled["redis"].threshold == DEFAULT_MAX_NEW_CONNECTIONS_PER_REQUEST == 0.05
    assert after.delta(before).usage(100, {"redis": 0.01})["redis"].churning


def test_a_redis_restart_resets_its_counters_without_a_negative_count():
    before, after = snapshots(received=(500, 3), own=(4, 5))
    assert after.delta(before).redis.new_connections == 0


def test_dns_queries_in_between_by_name_and_type():
    queries = [DnsQuery("a.test.", "A", 99.0, "1.2.3.4"), DnsQuery("a.test.", "A", 100.5, "NXDOMAIN"),
               DnsQuery("a.test.", "AAAA", 100.6, "NOERROR"), DnsQuery("b.test.", "A", 100.7, "NXDOMAIN")]
    delta = snapshots(queries=queries)[1].delta(snapshots()[0])
    assert [q.answer for q in delta.queries("A.Test")] == ["NXDOMAIN", "NOERROR"], "before the first: left out"
    assert [q.name for q in delta.queries(type="A")] == ["a.test.", "b.test."]
    assert "dns a.test. A: 1 queries, answers NXDOMAIN" in delta.format()


def test_the_leak_report_tells_churn_apart_from_leaks():
    before, after = snapshots()
    samples = [LeakSample(100 * i, {"worker_fds": 12.0}) for i in range(1, 5)]
    report = LeakReport(samples, {"worker_fds": 5.0}, 1)
    report.connections = after.delta(before)
    report.usage = report.connections.usage(300)
    report.assert_no_leak()
    report.assert_churns("redis", "proxy.upstream")
    with pytest.raises(AssertionError, match=r"redis: 99 new connections over 300 requests = 0.330 per request"):
        report.assert_no_churn()


def observed(delta, requests=100):
    return Observed(nginx=None, log=None, workers_before=None, outcomes=[Outcome("GET /", 200)] * requests,
                    dependencies=delta)


def verdicts(expect: dict, seen) -> dict[str, bool]:
    return {c.what: c.ok for c in check_all(Expect(**expect), seen) if c.what.startswith(("redis", "proxy", "dns"))}


def test_yaml_connection_expectations_judge_the_delta():
    queries = [DnsQuery("a.test.", "A", 100.5, "NXDOMAIN")]
    before, after = snapshots(queries=queries)
    seen = observed(after.delta(before))
    got = verdicts({"proxy": {"upstream": {"max_new_connections_per_request": 0.05, "requests": 50,
                                           "max_connections": 60}},
                    "dns": {"a.test": {"queries": 1, "answers": ["/^NX/"]}, "b.test": {"min_queries": 1}}}, seen)
    assert got == {"proxy.upstream new connections per request": False, "proxy.upstream HTTP requests": True,
                   "proxy.upstream connections": True, "dns a.test queries": True, "dns a.test answers": True,
                   "dns b.test queries": False}
    unread = verdicts({"dns": {"a.test": {"queries": 0}}}, observed(None))
    assert unread == {"dns": False}, "no counters read is a failure, never a pass"


def test_the_fault_proxy_counts_request_lines_across_reads():
    class Route:
        requests = 0
    link = fault_proxy.Link.__new__(fault_proxy.Link)
    link.proxy, link.partial = Route(), b""
    for chunk in (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HT", b"TP/1.1\r\n\r\n", b"POST /c HTTP/1.0\r\n",
                  b"*1\r\n$4\r\nPING\r\n"):
        link.count_requests(chunk)
    assert link.proxy.requests == 3


def test_the_dns_server_records_each_query_with_its_answer():
    dns_server.RECORDS.clear()
    dns_server.QUERIES.clear()
    dns_server.RECORDS.update({"a.test.": {"a": "10.0.0.9"}, "slow.test.": {"timeout": True}})
    resolver = dns_server.Resolver()
    for name, qtype in (("A.test", "A"), ("a.test", "AAAA"), ("slow.test", "A"), ("nope.test", "A")):
        resolver.resolve(DNSRecord.question(name, qtype), None)
    assert [(q["name"], q["type"], q["answer"]) for q in dns_server.QUERIES] == [
        ("a.test.", "A", "10.0.0.9"), ("a.test.", "AAAA", "NOERROR"), ("slow.test.", "A", "timeout"),
        ("nope.test.", "A", "NXDOMAIN")]
    times = [q["time"] for q in dns_server.QUERIES]
    assert times == sorted(times)
