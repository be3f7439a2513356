"""The plain objects behind the openresty fixture: the log-problem policy."""
from __future__ import annotations

from types import SimpleNamespace

from harness.errorlog import parse_error_log
from harness.factory import LogProblemPolicy

CRIT = parse_error_log("2024/01/01 00:00:00 [crit] 7#7: *1 something broke\n")


def test_the_marker_decides_what_is_allowed():
    assert LogProblemPolicy.from_marker(None) == LogProblemPolicy(allow_all=False, allowed=())
    assert LogProblemPolicy.from_marker(SimpleNamespace(args=())).allow_all
    assert LogProblemPolicy.from_marker(SimpleNamespace(args=("broke",))) == LogProblemPolicy(False, ("broke",))


def test_problems_fail_the_test_with_the_entries_and_the_fix():
    policy = LogProblemPolicy()
    assert policy.failure([]) is None
    message = policy.failure([(SimpleNamespace(name="harness-x-openresty-1"), CRIT)])
    assert "--- harness-x-openresty-1 ---" in message and "something broke" in message
    assert "@pytest.mark.allow_log_problems(pattern)" in message


def test_the_services_a_test_declares_go_with_every_openresty_it_starts():
    from harness.factory import OpenRestyFactory

    asked = []

    class Stage:
        def openresty(self, fixture, **options):
            asked.append(options.get("services"))
            return SimpleNamespace(workers=lambda: None)

    factory = OpenRestyFactory(Stage(), None, services=("redis",))
    factory("redis-counter")
    factory("redis-counter", services=["memcached"])
    factory("redis-counter", services="dns")
    assert asked == [("redis",), ("memcached", "redis"), ("dns", "redis")]
    OpenRestyFactory(Stage())("hello")
    assert asked[-1] is None
