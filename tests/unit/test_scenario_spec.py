"""The scenario format: shorthands, validation, and errors that name file and line (no Docker)."""
from pathlib import Path

import pytest

from harness.scenarios.loader import ScenarioSpecError, load_file
from harness.scenarios.reference import reference_markdown
from harness.scenarios.spec import Fault, Request, Step

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "x.scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioSpecError) as info:
        load_file(path)
    return info.value.message


def test_a_single_scenario_and_its_shorthands(tmp_path):
    path = write(tmp_path, """
name: counts
fixture: redis-counter
services: [redis]
steps:
  - fault: redis.refusing
    request: GET /count?key=a
    expect: {status: 500, error_log: "failed to connect", no_error_log: ["/attempt to .* nil/"]}
""")
    [loaded] = load_file(path)
    step = loaded.scenario.steps[0]
    assert loaded.line == 2
    assert step.request == Request(method="GET", path="/count?key=a")
    assert step.fault == [Fault(kind="redis.refusing")]
    assert [p.pattern for p in step.expect.error_log] == ["failed to connect"]
    assert step.expect.no_error_log[0].matcher().pattern == "attempt to .* nil"


def test_several_scenarios_keep_their_own_lines(tmp_path):
    path = write(tmp_path, """scenarios:
  - name: one
    steps: [{request: GET /}]

  - name: two
    steps: [{request: GET /}]
""")
    assert [(s.scenario.name, s.line) for s in load_file(path)] == [("one", 2), ("two", 5)]


@pytest.mark.parametrize("text, line, words", [
    ("name: a\nsteps:\n  - request: GET /\n    expect: {stauts: 200}\n", 4, "unknown field 'stauts'"),
    ("name: a\nsteps:\n  - request: FETCH /\n", 3, "a request line is 'METHOD /path'"),
    ("name: a\nsteps:\n  - fault: redis.slow\n    request: GET /\n", 3, "fault redis.slow needs 'ms'"),
    ("name: a\nsteps:\n  - fault: redis.paused\n    request: GET /\n", 1, "redis.* faults need 'redis' in services"),
    ("name: a\nsteps:\n  - request: GET /\n    load: {users: 2}\n", 3, "one kind of traffic"),
    ("name: a\n", 1, "a scenario needs steps"),
    ("name: a\nsteps:\n  - request: GET /\n   bad indent: 1\n", 4, "not valid YAML"),
    ("steps:\n  - request: GET /\n", 1, "'name' is required"),
    ("", 1, "the file is empty"),
    ("name: a\nsteps:\n  - {request: GET /, fault: {kind: proxy.down}}\n", 1, "need 'redis_proxy'"),
])
def test_errors_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_a_timeline_fault_must_clear_after_it_applies():
    with pytest.raises(ValueError, match="'clear' must come after 'at'"):
        Fault(kind="redis.stopped", at=2, clear=1)
    assert Fault(kind="redis.stopped", at=1, clear=2).describe() == "redis.stopped at 1s, cleared at 2s"


def test_within_refuses_to_repeat_a_kill():
    with pytest.raises(ValueError, match="cannot repeat worker/master faults"):
        Step(fault=["worker.kill"], request="GET /", within=5)


def test_until_dns_query_refuses_to_repeat_a_kill():
    with pytest.raises(ValueError, match="cannot repeat worker/master faults"):
        Step(fault=["worker.kill"], request="GET /", until_dns_query="redis.harness.test")


@pytest.mark.parametrize("extra, words", [
    ("    until_dns_query: a.test\n", "need 'dns' in services"),
    ("    expect: {dns: {a.test: {queries: 0}}}\n", "need 'dns' in services"),
    ("    expect: {proxy: {redis: {max_new_connections_per_request: 0.05}}}\n", "needs 'redis_proxy'"),
    ("    expect: {proxy: {upstream: {requests: 1}}}\n", "needs 'upstream'"),
])
def test_dependency_expectations_need_their_service(tmp_path, extra, words):
    assert words in error_of(write(tmp_path, "name: x\nsteps:\n  - request: GET /\n" + extra))


def test_the_catalogue_loads_and_covers_every_entry():
    scenarios = [s.scenario for f in sorted((REPO / "scenarios").rglob("*.scenario.yaml")) for s in load_file(f)]
    covered = {n for s in scenarios for n in s.catalogue}
    assert covered >= set(range(1, 20)), f"catalogue entries without a scenario: {set(range(1, 20)) - covered}"
    faulty = [s for s in scenarios if s.faulty]
    assert len(faulty) >= 10 and len(scenarios) - len(faulty) >= 15


def test_the_field_reference_is_current():
    assert (REPO / "docs" / "scenario-reference.md").read_text().strip() == reference_markdown().strip(), \
        "regenerate: .venv/bin/harness scenario-reference > docs/scenario-reference.md"
