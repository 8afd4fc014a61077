"""Who a broadcast reaches, through which command, and when it starts (pure, no I/O).

Two decisions of a dispatch, kept apart from the database and the broker so they can be tested at
10 000 nodes in milliseconds:

* :func:`plan` — one command per topic (``all``, each zone, each named node) and, for every loudspeaker
  it covers, the command that reaches it first. One pass over the nodes with a zone → command map:
  O(targets + nodes). (The first version scanned every delivery and every node per target: at 1 000
  nodes and 20 zones the POST took 9 s.)
* :func:`play_at` — the synchronised start. A village's loudspeakers start together only if every one
  holds the command before ``play_at``; the time to publish and to fan the commands out grows with the
  broadcast, so the lead grows with it instead of being fixed before the publishing starts (the first
  version fixed it first: at 1 000 nodes most commands arrived after their start time and a village's
  loudspeakers echoed each other by up to 2.3 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


class NodeLike(Protocol):
    """A registry row or a :class:`NodeRow`: what deciding coverage needs."""

    @property
    def id(self) -> str: ...
    @property
    def zones(self) -> Sequence[str]: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class NodeRow:
    """What the plan needs of a node: HQ's registry row reduced to its id, zones, kind and state."""

    id: str
    zones: tuple[str, ...] = ()
    kind: str = "speaker"
    online: bool = False


def command_targets(targets: dict[str, Any]) -> list[str]:
    """One command per topic: ``all``, else each zone, plus each explicitly named node."""
    if targets.get("all"):
        return ["all"]
    return [f"zone:{z}" for z in targets.get("zones") or []] + [f"node:{n}" for n in targets.get("nodes") or []]


def covers(targets: dict[str, Any], node: NodeLike) -> bool:
    """Whether a bulletin's targets reach ``node``; never a camera-only node (it has no loudspeaker)."""
    return reaching(targets, node) is not None


def reaching(targets: dict[str, Any], node: NodeLike, zone_targets: dict[str, str] | None = None) -> str | None:
    """The first command target (in :func:`command_targets` order) that reaches ``node``, or None."""
    if node.kind == "camera":
        return None
    if targets.get("all"):
        return "all"
    zt = zone_targets if zone_targets is not None else {z: f"zone:{z}" for z in targets.get("zones") or []}
    order = targets.get("zones") or []
    hits = [z for z in node.zones or () if z in zt]
    if hits:
        return zt[min(hits, key=order.index) if len(hits) > 1 else hits[0]]
    if node.id in (targets.get("nodes") or []):
        return f"node:{node.id}"
    return None


@dataclass(frozen=True)
class Plan:
    targets: tuple[str, ...]
    """Command targets, in publishing order."""
    reach: dict[str, str]
    """Node id → the target whose command reaches it (a node in two targeted zones is counted once)."""
    online: frozenset[str]


def plan(targets: dict[str, Any], nodes: Iterable[NodeRow]) -> Plan:
    """Commands and the node each reaches; named nodes HQ has no row for are still tracked (their topic)."""
    order = command_targets(targets)
    zone_targets = {z: f"zone:{z}" for z in targets.get("zones") or []}
    reach: dict[str, str] = {}
    online: set[str] = set()
    for node in nodes:
        target = reaching(targets, node, zone_targets)
        if target is not None:
            reach[node.id] = target
            if node.online:
                online.add(node.id)
    if not targets.get("all"):
        for name in targets.get("nodes") or []:
            reach.setdefault(name, f"node:{name}")
    return Plan(tuple(order), reach, frozenset(online))


@dataclass(frozen=True)
class StartRule:
    """How far ahead of the end of publishing a synchronised start is placed.

    ``lead_s`` is the configured margin every node gets after the LAST command is published; the two
    rates are what publishing and the broker's fan-out cost per command and per node (measured on the
    reference machine, configurable), so the margin holds at 10 nodes and at 10 000.
    """

    lead_s: float
    per_1000_nodes_s: float = 0.0
    per_command_s: float = 0.0
    publish_base_s: float = 0.0
    """Committing the broadcast and the first round trip to the broker, before any command is out."""
    max_extra_s: float = 120.0

    def extra_s(self, commands: int, nodes: int) -> float:
        """Seconds added to the lead for a broadcast of ``commands`` reaching ``nodes``."""
        return min(self.max_extra_s, self.publish_base_s + commands * self.per_command_s
                   + nodes / 1000 * self.per_1000_nodes_s)


def play_at(rule: StartRule, t: datetime, send_at: datetime | None, commands: int, nodes: int) -> datetime:
    """The start time of a broadcast signed at ``t``: the later of ``send_at`` and the end of publishing
    plus the fan-out plus the lead."""
    earliest = t + timedelta(seconds=rule.lead_s + rule.extra_s(commands, nodes))
    return max(send_at, earliest) if send_at is not None else earliest


def lead_fell_short(rule: StartRule, published_at: datetime, planned: datetime) -> bool:
    """True when publishing ended later than ``planned − lead``: the estimate was too low (logged, counted)."""
    return published_at > planned - timedelta(seconds=rule.lead_s)
