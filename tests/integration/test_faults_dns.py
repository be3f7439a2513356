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


def recovers(client) -> bool:
    return client.get("/count").status_code == 200


def fails_on_a_new_connection(client, redis_fault) -> bool:
    """Pooled connections skip the resolver (the pool is keyed by name and port), so drop them:
    only a new connection asks DNS. The resolver also caches answers for valid=1s."""
    redis_fault.drop_connections()
    return client.get("/count").status_code == 500


@pytest.mark.parametrize("answer, message", [
    ({"rcode": "NXDOMAIN"}, f"{NAME} could not be resolved (3: Host not found)"),
    ({"rcode": "SERVFAIL"}, f"{NAME} could not be resolved (2: Server failure)"),
    ({"timeout": True}, f"{NAME} could not be resolved (110: Operation timed out)"),
])
def test_resolver_failures_fail_fast_and_clearly_then_recover(named, dns, redis_fault, answer, message):
    nginx, client = named
    with dns.answering(NAME, **answer):
        wait_for(lambda: fails_on_a_new_connection(client, redis_fault), timeout=10,
                 what="the changed DNS answer to reach nginx")
        started = time.perf_counter()
        assert client.get("/count").status_code == 500
        assert time.perf_counter() - started < 2.5, "fails within resolver_timeout, not a hang"
        nginx.log.assert_logged(f"failed to connect redis: {message}", level="error")
    wait_for(lambda: recovers(client), timeout=10, what="the service to recover when DNS does")


def test_a_wrong_address_fails_at_connect(named, dns, redis_fault):
    nginx, client = named
    wrong = nginx.ip  # a live host on the test network with nothing on Redis's port
    with dns.answering(NAME, a=wrong):
        wait_for(lambda: fails_on_a_new_connection(client, redis_fault), timeout=10, what="the wrong address")
        nginx.log.assert_logged("failed to connect redis: connection refused")
    wait_for(lambda: recovers(client), timeout=10, what="the right address again")


def test_unknown_names_are_nxdomain_and_nothing_is_forwarded(dns):
    query = DNSRecord.question("example.com").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (dns.ip, 53))  # the session network is reached directly here (reach: direct)
        reply = DNSRecord.parse(s.recv(512))
    assert reply.header.rcode == 3 and not reply.rr  # NXDOMAIN, no answer, no upstream asked
