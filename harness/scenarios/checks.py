"""Expectations judged against what a step observed; each gives a :class:`Check` with the expected
and the actual value, so a failure reads as a diff, not as a stack trace. No I/O here: the step's
:class:`~harness.scenarios.observe.Observed` carries a :class:`~harness.scenarios.observe.Snapshot`
that :func:`~harness.scenarios.observe.observe` took first."""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Mapping, Optional, TypeVar

from harness.errorlog import logged_as_expected, missing_message, select, unexpected_message
from harness.faults.registry import Route
from harness.scenarios.observe import LOG_WAIT_S, Observed, Snapshot, needs_snapshot
from harness.scenarios.spec import (ConnectionsExpect, DnsExpect, Expect, LoadExpect, RedisExpect, ResponseExpect,
                                    RouteExpect, WorkerExpect, as_pattern, matches)
from harness.scenarios.traffic import Outcome
from harness.workers import WorkerTable, diff, health

if TYPE_CHECKING:
    from harness.dependencies import Usage

__all__ = ["Check", "Observed", "check_all", "check_response", "check_responses", "parse_sample"]
K = TypeVar("K")  # a key of counted things (a status, say)


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    expected: str = ""
    actual: str = ""
    detail: str = ""

    def format(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"{mark} {self.what}"
        if not self.ok:
            if self.expected or self.actual:
                text += f"\n       expected: {self.expected}\n       actual:   {self.actual}"
            if self.detail:
                text += "\n" + "\n".join("       " + line for line in self.detail.splitlines())
        return text


def check_all(expect: Expect, seen: Observed) -> list[Check]:
    """Every expectation of ``expect`` judged on ``seen`` and its snapshot (``observe`` first)."""
    snap = seen.snapshot
    if snap is None:
        if needs_snapshot(expect):
            raise ValueError("these expectations judge a snapshot: call harness.scenarios.observe.observe(expect, "
                             "seen) first")
        snap = Snapshot()
    checks = check_responses(expect, seen.outcomes)
    checks += _error_log(expect, snap)
    if expect.workers is not None:
        checks += _workers(expect.workers, seen.workers_before, snap)
    if expect.redis is not None:
        checks += _redis(expect.redis, seen, snap)
    if expect.proxy:
        checks += _routes(expect.proxy, seen)
    if expect.dns:
        checks += _dns(expect.dns, seen)
    if expect.metrics is not None:
        checks += _metrics(expect, seen)
    if expect.load is not None or seen.load is not None:
        checks += _load(expect.load or LoadExpect(), seen)
    if expect.leak is not None:
        checks += _leak(expect, seen)
    return checks


def check_response(expect: ResponseExpect, outcome: Outcome, index: int) -> list[Check]:
    """A sequence's per-request expectations, labelled with the request."""
    return [replace(c, what=f"#{index} {outcome.request}: {c.what}") for c in check_responses(expect, [outcome])]


def check_responses(expect: ResponseExpect, outcomes: list[Outcome]) -> list[Check]:
    """The response expectations (status, bodies, headers, latency, timeouts) over ``outcomes``."""
    checks: list[Check] = []
    answered = [o for o in outcomes if o.status is not None]
    if expect.status is not None:
        allowed = expect.status if isinstance(expect.status, list) else [expect.status]
        bad = [o for o in outcomes if o.status not in allowed]
        checks.append(Check(f"status {' or '.join(map(str, allowed))}", bool(outcomes) and not bad,
                            f"{len(outcomes)} x {allowed}", _statuses(outcomes) or "no response",
                            "\n".join(o.brief() for o in bad[:5])))
    if expect.statuses is not None:
        statuses = Counter(o.status for o in answered)
        want = {int(k): v for k, v in expect.statuses.items()}
        checks.append(Check("statuses", dict(statuses) == want, _fmt_counts(want), _fmt_counts(statuses)))
    if expect.timeouts is not None:
        n = sum(o.timed_out for o in outcomes)
        checks.append(Check("timeouts", n == expect.timeouts, str(expect.timeouts), str(n),
                            "\n".join(o.brief() for o in outcomes if o.timed_out)[:2000]))
    if expect.errors is not None:
        n = sum(bool(o.error) for o in outcomes)
        checks.append(Check("broken connections", n == expect.errors, str(expect.errors), str(n),
                            "\n".join(o.brief() for o in outcomes if o.error)[:2000]))
    if expect.body is not None:
        bad = [o for o in answered if o.body != expect.body]
        detail = ""
        if bad:
            detail = "".join(difflib.unified_diff(expect.body.splitlines(True), bad[0].body.splitlines(True),
                                                  "expected body", "actual body"))
        checks.append(Check("body", bool(answered) and not bad, repr(expect.body),
                            repr(bad[0].body) if bad else ("no response" if not answered else repr(expect.body)),
                            detail))
    if expect.body_like is not None:
        pattern = re.compile(expect.body_like)
        bad = [o for o in answered if not pattern.search(o.body)]
        checks.append(Check(f"body matches /{expect.body_like}/", bool(answered) and not bad, expect.body_like,
                            repr(bad[0].body[:300]) if bad else ("no response" if not answered else "matches")))
    if expect.bodies is not None:
        bodies = [o.body for o in outcomes]
        detail = "".join(difflib.unified_diff([b + "\n" for b in expect.bodies], [b + "\n" for b in bodies],
                                              "expected bodies", "actual bodies"))
        checks.append(Check("bodies in order", bodies == expect.bodies, repr(expect.bodies), repr(bodies), detail))
    for name, value in expect.headers.items():
        pattern = re.compile(value)
        bad = [o for o in answered if not pattern.fullmatch(o.headers.get(name.lower(), ""))]
        checks.append(Check(f"header {name}", bool(answered) and not bad, value,
                            repr(bad[0].headers.get(name.lower())) if bad else value))
    latencies = [o.elapsed_ms for o in answered]
    if expect.min_ms is not None:
        low = min(latencies, default=0.0)
        checks.append(Check(f"every response took >= {expect.min_ms:g} ms", bool(latencies) and low >= expect.min_ms,
                            f">= {expect.min_ms:g} ms", f"fastest {low:.1f} ms"))
    if expect.max_ms is not None:
        high = max((o.elapsed_ms for o in outcomes), default=0.0)
        checks.append(Check(f"every response took <= {expect.max_ms:g} ms", bool(outcomes) and high <= expect.max_ms
                            and not any(o.timed_out for o in outcomes), f"<= {expect.max_ms:g} ms",
                            f"slowest {high:.1f} ms"))
    return checks


def _error_log(expect: Expect, snap: Snapshot) -> list[Check]:
    checks: list[Check] = []
    for item in expect.error_log:
        found = select(snap.log, item.matcher(), item.level)
        if logged_as_expected(found, item.count):
            checks.append(Check(f"error_log {item.pattern!r}", True, actual=f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}"))
        else:
            head, _, rest = missing_message(item.matcher(), item.level, item.count, len(found), LOG_WAIT_S,
                                            snap.log_source, snap.log).partition("\n")
            checks.append(Check(f"error_log {item.pattern!r}", False, "logged" + (f" {item.count}x" if item.count is not None else ""),
                                head, rest))
    for item in expect.no_error_log:
        found = select(snap.log, item.matcher(), item.level)
        if snap.unsettled:
            checks.append(Check(f"no_error_log {item.pattern!r}", False, "a settled error.log", snap.unsettled,
                                snap.unsettled_detail))
        elif found:
            head, _, rest = unexpected_message(item.matcher(), item.level, found).partition("\n")
            checks.append(Check(f"no_error_log {item.pattern!r}", False, "not logged", head, rest))
        else:
            checks.append(Check(f"no_error_log {item.pattern!r}", True))
    for pattern, count in expect.grep_error_log.items():
        n = len(select(snap.log, as_pattern(pattern)))
        checks.append(Check(f"grep_error_log {pattern!r}", n == count, str(count), str(n)))
    return checks


def _workers(want: WorkerExpect, before: Optional[WorkerTable], snap: Snapshot) -> list[Check]:
    if snap.workers is None:
        return [Check("workers", False, "a worker table", "none was taken")]
    after = snap.workers
    changes = diff(before or after, after)
    quota = snap.cpu_quota
    findings = health(after, quota)
    table = after.format()
    facts = {
        "count": (want.count, len(after.workers)),
        "respawned": (want.respawned, len(changes.respawned)),
        "died": (want.died, len(changes.died)),
        "zombies": (want.zombies, len(after.zombies)),
        "stopped": (want.stopped, sum(p.state == "T" for p in after.workers)),
        "stuck": (want.stuck, bool(after.stuck())),
        "over_quota": (want.over_quota, after.over_quota(quota)),
        "healthy": (want.healthy, not findings),
    }
    detail = "\n".join(findings + [table])
    checks = [Check(f"workers.{name}", actual == expected, str(expected), str(actual), detail)
              for name, (expected, actual) in facts.items() if expected is not None]
    if want.max_rss_mb is not None:
        top = max((p.rss_mb for p in after.workers), default=0.0)
        checks.append(Check("workers.max_rss_mb", top < want.max_rss_mb, f"< {want.max_rss_mb:g}", f"{top:.1f}", table))
    if want.max_fds is not None:
        top = max((p.fds for p in after.workers), default=0)
        checks.append(Check("workers.max_fds", top <= want.max_fds, f"<= {want.max_fds}", str(top), table))
    return checks


def _redis(want: RedisExpect, seen: Observed, snap: Snapshot) -> list[Check]:
    if seen.redis is None:
        return [Check("redis", False, "a Redis", "no 'redis' in the scenario's services")]
    keys = snap.redis_keys
    checks = [Check(f"redis {key}", keys.get(key) == value, repr(value), repr(keys.get(key)))
              for key, value in want.keys.items()]
    if want.max_clients_from_nginx is not None or want.min_clients_from_nginx is not None:
        n = snap.redis_clients_from_nginx or 0
        low, high = want.min_clients_from_nginx or 0, want.max_clients_from_nginx
        ok = n >= low and (high is None or n <= high)
        checks.append(Check("redis clients from nginx", ok, f"{low}..{'' if high is None else high}", str(n)))
    if want.wanted:
        checks += _connections("redis", want, seen)
    return checks


def _connections(dependency: str, want: ConnectionsExpect, seen: Observed) -> list[Check]:
    usage = _usage(dependency, seen)
    if isinstance(usage, Check):
        return [usage]
    detail = f"{usage}\n{seen.dependencies.format() if seen.dependencies else ''}"
    per, checks = usage.new_connections_per_request, []
    if want.max_new_connections_per_request is not None:
        checks.append(Check(f"{dependency} new connections per request", per <= want.max_new_connections_per_request,
                            f"<= {want.max_new_connections_per_request:g}",
                            f"{per:.3f} ({usage.new_connections} over {usage.requests} requests)", detail))
    if want.min_new_connections_per_request is not None:
        checks.append(Check(f"{dependency} new connections per request", per >= want.min_new_connections_per_request,
                            f">= {want.min_new_connections_per_request:g}",
                            f"{per:.3f} ({usage.new_connections} over {usage.requests} requests)", detail))
    if want.min_pool_reuse is not None:
        checks.append(Check(f"{dependency} pool reuse", usage.pool_reuse >= want.min_pool_reuse,
                            f">= {want.min_pool_reuse:.0%}", f"{usage.pool_reuse:.0%}", detail))
    return checks


def _usage(dependency: str, seen: Observed) -> "Usage | Check":
    if seen.dependencies is None:
        return Check(dependency, False, "its counters before and after the step", "not read")
    usage = seen.dependencies.usage(seen.requests).get(dependency)
    if usage is None:
        return Check(dependency, False, f"counters of {dependency}", "this dependency was not watched")
    if not usage.requests:
        return Check(f"{dependency} new connections per request", False, "requests sent in the step", "none")
    return usage


def _routes(wanted: Mapping[Route, RouteExpect], seen: Observed) -> list[Check]:
    checks: list[Check] = []
    for route, want in wanted.items():
        if want.wanted:
            checks += _connections(f"proxy.{route}", want, seen)
        if want.requests is None and want.max_connections is None:
            continue
        delta = seen.dependencies.routes.get(route) if seen.dependencies is not None else None
        if delta is None:
            checks.append(Check(f"proxy.{route}", False, "its counters before and after the step", "not read"))
            continue
        if want.requests is not None:
            checks.append(Check(f"proxy.{route} HTTP requests", delta.requests == want.requests, str(want.requests),
                                str(delta.requests)))
        if want.max_connections is not None:
            checks.append(Check(f"proxy.{route} connections", delta.connections <= want.max_connections,
                                f"<= {want.max_connections}", str(delta.connections)))
    return checks


def _dns(wanted: dict[str, DnsExpect], seen: Observed) -> list[Check]:
    if seen.dependencies is None:
        return [Check("dns", False, "the DNS server's queries over the step", "not read")]
    checks: list[Check] = []
    for name, want in wanted.items():
        queries = seen.dependencies.queries(name)
        n = len(queries)
        detail = "\n".join(f"{q.time:.3f} {q.type} -> {q.answer}" for q in queries[:20])
        bounds = {"queries": (want.queries, n == want.queries, f"{want.queries}"),
                  "min_queries": (want.min_queries, n >= (want.min_queries or 0), f">= {want.min_queries}"),
                  "max_queries": (want.max_queries, n <= (want.max_queries or 0), f"<= {want.max_queries}")}
        checks += [Check(f"dns {name} queries", ok, expected, str(n), detail)
                   for value, ok, expected in bounds.values() if value is not None]
        if want.answers is not None:
            bad = sorted({q.answer for q in queries if not any(matches(p, q.answer) for p in want.answers)})
            checks.append(Check(f"dns {name} answers", bool(queries) and not bad, " or ".join(want.answers),
                                ", ".join(bad) or ("no query" if not queries else "as expected"), detail))
    return checks


def _metrics(expect: Expect, seen: Observed) -> list[Check]:
    assert expect.metrics is not None
    if seen.metrics_before is None or seen.metrics_after is None:
        return [Check("metrics", False, "two scrapes", "the exporter could not be scraped")]
    checks = []
    for sample, want in expect.metrics.delta.items():
        name, labels = parse_sample(sample)
        got = seen.metrics_after.delta(seen.metrics_before, name, **labels)
        checks.append(Check(f"metrics {sample}", abs(got - want) < 1e-9, f"+{want:g}", f"+{got:g}"))
    return checks


def parse_sample(text: str) -> tuple[str, dict[str, str]]:
    """``name{a="1",b="2"}`` -> ("name", {"a": "1", "b": "2"})."""
    match = re.fullmatch(r'\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*', text)
    if not match:
        raise ValueError(f"not a Prometheus sample name: {text!r}")
    labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"', match.group(2) or ""))
    return match.group(1), labels


def _load(want: LoadExpect, seen: Observed) -> list[Check]:
    result = seen.load
    if result is None:
        return [Check("load", False, "a load step", "the step has no load")]
    p = result.percentiles_ms
    checks = []
    if want.max_failures is not None:
        checks.append(Check("load failures", result.failed <= want.max_failures, f"<= {want.max_failures}",
                            f"{result.failed} {result.failures or ''}".strip()))
    if want.min_requests is not None:
        checks.append(Check("load requests", result.requests >= want.min_requests, f">= {want.min_requests}",
                            str(result.requests)))
    if want.min_rps is not None:
        checks.append(Check("load req/s", result.rps >= want.min_rps, f">= {want.min_rps:g}", f"{result.rps:.0f}"))
    if want.p99_ms is not None:
        checks.append(Check("load p99", p["p99"] <= want.p99_ms, f"<= {want.p99_ms:g} ms", f"{p['p99']:.1f} ms"))
    if want.max_ms is not None:
        checks.append(Check("load max", p["max"] <= want.max_ms, f"<= {want.max_ms:g} ms", f"{p['max']:.1f} ms"))
    ordered = p["p50"] <= p["p90"] <= p["p99"] <= p["p99.9"] <= p["max"]
    checks.append(Check("load percentiles ordered", ordered, "p50 <= p90 <= p99 <= p99.9 <= max", str(p)))
    return checks


def _leak(expect: Expect, seen: Observed) -> list[Check]:
    report = seen.leak
    if report is None:
        return [Check("leak", False, "a leak step", "the step has no leak rounds")]
    names = {"fds": "worker_fds", "rss_kb": "worker_rss_kb", "redis_clients": "redis_clients"}
    leaking = {v.metric for v in report.leaking}
    if expect.leak == "steady":
        return [Check("leak verdict steady", not leaking, "no metric over its threshold",
                      ", ".join(sorted(leaking)) or "none", report.format())]
    want = {names[m] for m in expect.leak_metrics} or None
    ok = bool(leaking) if want is None else want <= leaking
    return [Check("leak verdict leaking", ok, ", ".join(sorted(want or {"any metric"})),
                  ", ".join(sorted(leaking)) or "none", report.format())]


def _statuses(outcomes: list[Outcome]) -> str:
    counts = Counter("timeout" if o.timed_out else o.error.split(":")[0] if o.error else str(o.status)
                     for o in outcomes)
    return ", ".join(f"{n} x {k}" for k, n in counts.most_common())


def _fmt_counts(counts: Mapping[K, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))) or "none"
