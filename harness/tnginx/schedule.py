"""The order `.t` blocks start in, and which may start now.

A run of blocks in lanes ends when its longest block (or its longest chain of blocks that must run one
after another) ends, so the long ones start first: a block expected to take at least :data:`LONG`
seconds goes before the short ones, the longest first; the others keep the files' order (their
containers' shapes stay together, so the pool switches rather than starts). What a block sees does not
change: each runs on a nginx of its own, its ``repeat_each`` repetitions in order on that nginx.

A *chain* is blocks that share state outside their nginx (the session's Redis or memcached: every
block's data): they run one at a time, in the files' order, beside the other blocks. A chain is
weighed as a whole (the sum of its blocks) and its blocks are placed together at the chain's rank.

A *quiet* block (its verdict depends on its timers firing on time) runs alone: it waits until the lanes
are empty, and nothing passes it meanwhile. So the quiet blocks start last, in the files' order, after
every other block started: the lanes then empty once, at the run's end, rather than before each quiet
block (lua-nginx-module's 58 quiet blocks among 798 left 35 s without a block starting in a 123 s run,
17 s of it behind one 20 s block). A quiet block of a chain keeps its place in the chain.
"""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Optional, Sequence, TypeVar

J = TypeVar("J")
LONG = 0.5  # seconds: a block (or chain) expected to take this long starts before the short ones


def start_order(jobs: Sequence[J], estimate: Callable[[J], float],
                chain: Callable[[J], Optional[Hashable]],
                quiet: Callable[[J], bool] = lambda job: False) -> list[J]:
    """``jobs`` (in the files' order) in the order they should start: long blocks and long chains
    first, the longest first; a chain's blocks in their own order; everything else as given; the
    quiet blocks outside chains last, as given."""
    totals: dict[Hashable, float] = {}
    first: dict[Hashable, int] = {}
    for index, job in enumerate(jobs):
        name = chain(job)
        if name is not None:
            totals[name] = totals.get(name, 0.0) + max(0.0, estimate(job))
            first.setdefault(name, index)

    def key(item: tuple[int, J]) -> tuple[bool, float, int, int]:
        index, job = item
        name = chain(job)
        if name is None and quiet(job):
            return (True, 0.0, index, index)
        weight = totals[name] if name is not None else max(0.0, estimate(job))
        if weight < LONG:
            return (False, 0.0, index, index)
        return (False, -weight, first[name] if name is not None else index, index)
    return [job for _, job in sorted(enumerate(jobs), key=key)]


def next_startable(pending: Iterable[J], chain: Callable[[J], Optional[Hashable]],
                   busy_chains: set[Hashable]) -> Optional[J]:
    """The first of ``pending`` (in start order) that may start now: one outside any chain, or the
    first waiting block of a chain none of whose blocks runs."""
    for job in pending:
        if chain(job) not in busy_chains:
            return job
    return None
