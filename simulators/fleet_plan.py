"""Which simulated nodes exist, in which village, and which worker process runs each (pure).

A fleet of N nodes is spread over Z villages (zones) as evenly as possible and over worker processes
of at most ``per_process`` nodes each. Nodes are dealt to processes round-robin, not in blocks, so a
village's loudspeakers live in several processes, like real ones that share nothing: a start spread
measured inside a village then includes the skew between processes, not only the order in which one
event loop serves its agents.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PER_PROCESS = 1000
"""Agents per worker process by default: one socket and ~1 open file each, ~100 KB of RSS each, well
inside a 20 000 open-file limit and small enough that one loop still serves them in time."""


@dataclass(frozen=True)
class NodeSpec:
    node: str
    zone: str


def zone_name(index: int) -> str:
    """Village slug ``thon-{index}`` (1-based), as the demo and the tests name them."""
    return f"thon-{index}"


def plan_nodes(nodes: int, zones: int) -> list[NodeSpec]:
    """``nodes`` nodes over ``zones`` villages, sizes differing by at most one; ids ``thon-{z}-loa-{n}``."""
    if nodes < 1:
        raise ValueError("a fleet needs at least one node")
    if zones < 1:
        raise ValueError("a fleet needs at least one village (zone)")
    zones = min(zones, nodes)
    base, extra = divmod(nodes, zones)
    specs: list[NodeSpec] = []
    for z in range(1, zones + 1):
        specs += [NodeSpec(f"thon-{z}-loa-{n}", zone_name(z)) for n in range(1, base + (z <= extra) + 1)]
    return specs


def process_count(nodes: int, per_process: int = MAX_PER_PROCESS) -> int:
    if per_process < 1:
        raise ValueError("per_process must be at least 1")
    return max(1, -(-nodes // per_process))


def shard(specs: list[NodeSpec], processes: int) -> list[list[NodeSpec]]:
    """Deal ``specs`` round-robin over ``processes`` workers (none empty)."""
    processes = max(1, min(processes, len(specs)))
    return [specs[i::processes] for i in range(processes)]


def zone_of(specs: list[NodeSpec]) -> dict[str, str]:
    return {s.node: s.zone for s in specs}
