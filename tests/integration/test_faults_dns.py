"""Catalogue 2: DNS failures as nginx's resolver reports them, a wrong address, and recovery."""
import socket
import time

import pytest
from dnslib import DNSRecord

from harness.waiting import wait_for

pytestmark = pytest.mark.integration

NAME = "redis.harness.test"


@pytest.fixture
def named(openresty, redis, dns):
    dns.answer(NAME, a=redis.ip)
    nginx = openresty("redis-by-name", workers=1)
    client = nginx.client(timeout=5)
    assert client.get("/count").text == "1\n", "resolves through the harness's DNS server"
    yield nginx, client
    client.close()


def on_a_new_connection(client, redis_fault):
    """Pooled connections skip the resolver (the pool is keyed by name and port), so drop them
    first: only a new connection asks DNS. What makes nginx ask again, for wait_for_query."""
    def poke() -> None:
        redis_fault.drop_connections()
        client.get("/count")
    return poke


@pytest.mark.parametrize("answer, message", [
    ({"rcode": "NXDOMAIN"}, f"{NAME} could not be resolved (3: Host not found)"),
    ({"rcode": "SERVFAIL"}, f"{NAME} could not be resolved (2: Server failure)"),
    ({"timeout": True}, f"{NAME} could not be resolved (110: Operation timed out)"),
])
def test_resolver_failures_fail_fast_and_clearly_then_recover(named, dns, redis_fault, answer, message):
    nginx, client = named
    # the block begins once nginx has asked and got the new answer (its cache may hold the old
    # one for up to 2 s with valid=1s): no guessed sleep
    with dns.answering(NAME, wait_for_query=True, poke=on_a_new_connection(client, redis_fault), **answer) as change:
        started = time.perf_counter()
        assert client.get("/count").status_code == 500
        assert time.perf_counter() - started < 2.5, "fails within resolver_timeout, not a hang"
        nginx.log.assert_logged(f"failed to connect redis: {message}", level="error")
        assert {q.answer for q in change.queries()} == {answer.get("rcode", "timeout")}
    asked = dns.wait_for_query(NAME, after=change.restored, poke=lambda: client.get("/count"))
    assert asked.answer == dns.records()[NAME + "."]["a"]
    assert client.get("/count").status_code == 200, "recovered once nginx asked again"


def test_pooled_connections_bypass_dns_until_the_pool_is_dropped(named, dns, redis_fault):
    nginx, client = named
    with dns.answering(NAME, rcode="NXDOMAIN") as change:
        assert [client.get("/count").status_code for _ in range(5)] == [200] * 5
        assert change.queries() == [], "the pooled connection never asked DNS"
        asked = change.wait_for_query(poke=on_a_new_connection(client, redis_fault))
        assert asked.answer == "NXDOMAIN"
        assert client.get("/count").status_code == 500
        nginx.log.assert_logged(f"{NAME} could not be resolved (3: Host not found)")
    dns.wait_for_query(NAME, after=change.restored, poke=lambda: client.get("/count"))
    assert client.get("/count").status_code == 200


def test_a_wrong_address_fails_at_connect(named, dns, redis_fault):
    nginx, client = named
    wrong = nginx.ip  # a live host on the test network with nothing on Redis's port
    with dns.answering(NAME, a=wrong, wait_for_query=True, poke=on_a_new_connection(client, redis_fault)):
        assert client.get("/count").status_code == 500
        nginx.log.assert_logged("failed to connect redis: connection refused")
    wait_for(lambda: client.get("/count").status_code == 200, timeout=10, what="the right address again")


def test_every_query_is_recorded_with_its_answer(dns):
    dns.answer("recorded.harness.test", a="10.9.8.7")
    since = dns.now()
    for qtype in ("A", "AAAA"):
        ask(dns, "recorded.harness.test", qtype)
    ask(dns, "unknown.harness.test")
    got = [(q.name, q.type, q.answer) for q in dns.queries(after=since)]
    assert got == [("recorded.harness.test.", "A", "10.9.8.7"), ("recorded.harness.test.", "AAAA", "NOERROR"),
                   ("unknown.harness.test.", "A", "NXDOMAIN")]
    assert [q.type for q in dns.queries("Recorded.Harness.Test", after=since, type="AAAA")] == ["AAAA"]
    assert all(since < q.time <= dns.now() for q in dns.queries(after=since))


def ask(dns, name: str, qtype: str = "A") -> DNSRecord:
    query = DNSRecord.question(name, qtype).pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (dns.ip, 53))  # the session network is reached directly here (reach: direct)
        return DNSRecord.parse(s.recv(512))


def test_unknown_names_are_nxdomain_and_nothing_is_forwarded(dns):
    reply = ask(dns, "example.com")
    assert reply.header.rcode == 3 and not reply.rr  # NXDOMAIN, no answer, no upstream asked
