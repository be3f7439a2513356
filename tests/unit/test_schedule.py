"""The order `.t` blocks start in (harness.tnginx.schedule) and how long a block is expected to take
(harness.tnginx.durations): long blocks and chains first, a chain's blocks in order and one at a time,
the rest in the files' order; estimates from the last run, else from the block's own waits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.tnginx.block import TBlock
from harness.tnginx.durations import Durations, from_sections
from harness.tnginx.load import RawBlock
from harness.tnginx.schedule import LONG, next_startable, start_order


@dataclass(frozen=True)
class B:
    name: str
    seconds: float = 0.0
    chain: Optional[str] = None
    quiet: bool = False


def order(*blocks: B) -> list[str]:
    return [b.name for b in start_order(blocks, lambda b: b.seconds, lambda b: b.chain, lambda b: b.quiet)]


def test_short_blocks_keep_the_files_order():
    assert order(B("a"), B("b", LONG / 2), B("c"), B("d", LONG / 3)) == ["a", "b", "c", "d"]


def test_long_blocks_start_first_the_longest_first():
    assert order(B("a"), B("b", 1.0), B("c"), B("d", 23.0), B("e", 1.0)) == ["d", "b", "e", "a", "c"]


def test_a_chain_is_weighed_whole_and_keeps_its_order():
    blocks = (B("a", 0.6), B("r1", 0.3, "redis"), B("b"), B("r2", 0.4, "redis"), B("c", 2.0))
    assert order(*blocks) == ["c", "r1", "r2", "a", "b"]  # the chain: 0.7 s in all


def test_a_short_chain_keeps_its_blocks_where_they_are():
    assert order(B("a"), B("r1", 0.1, "redis"), B("b"), B("r2", 0.1, "redis")) == ["a", "r1", "b", "r2"]


def test_quiet_blocks_start_last_in_the_files_order_but_within_a_chain():
    # each waits for the lanes to empty: last, they empty once, at the run's end
    blocks = (B("q1", 3.0, quiet=True), B("a"), B("r1", 0.1, "redis"), B("rq", 0.1, "redis", quiet=True),
              B("b", 2.0), B("q2", quiet=True), B("c"))
    assert order(*blocks) == ["b", "a", "r1", "rq", "c", "q1", "q2"]


def test_the_next_startable_skips_a_busy_chain_but_never_passes_within_it():
    pending = [B("r2", chain="redis"), B("x"), B("r3", chain="redis")]
    assert next_startable(pending, lambda b: b.chain, {"redis"}).name == "x"
    assert next_startable(pending, lambda b: b.chain, set()).name == "r2"
    assert next_startable(pending[:1], lambda b: b.chain, {"redis"}) is None


def block(config: str = "", wait: float = 0.0, timeout: float = 3.0, abort: bool = False) -> TBlock:
    from harness.tnginx.block import build_block

    sections = {"config": config, "request": "GET /t", "wait": str(wait) if wait else None,
                "timeout": str(timeout), "abort": "" if abort else None}
    raw = RawBlock("x", 1, {k: v for k, v in sections.items() if v is not None})
    return build_block(raw, repeats=1, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                       label="x")


def test_a_blocks_waits_are_its_estimate_times_its_repetitions():
    assert from_sections(block()) == 0.0
    sleepy = block("location /t { content_by_lua_block { ngx.sleep(0.5) ngx.sleep( 1 ) ngx.say(1) } }", wait=2)
    assert from_sections(sleepy, repeats=2) == 2 * (0.5 + 1 + 2)
    assert from_sections(block(timeout=1.5, abort=True)) == 1.5  # a client timeout it expects


def test_durations_are_kept_between_runs_and_merged(tmp_path):
    path = tmp_path / "reports" / ".t-durations.json"
    first = Durations(path)
    assert first.get("t/a.t::TEST 1") is None
    first.record("t/a.t::TEST 1", 1.25)
    first.record("t/a.t::TEST 2", 0.01)
    first.save()
    other = Durations(path)  # a run of another file meanwhile
    other.record("t/b.t::TEST 1", 3.0)
    other.save()
    again = Durations(path)
    assert again.get("t/a.t::TEST 1") == 1.25 and again.get("t/b.t::TEST 1") == 3.0


def test_an_unreadable_durations_file_means_no_estimates(tmp_path):
    path = tmp_path / ".t-durations.json"
    path.write_text("not json")
    assert Durations(path).get("t/a.t::TEST 1") is None
