"""Fan-out planning and the synchronised start (pure): who gets which command, in one pass, at 10 000 nodes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from hq_server.services.fanout import NodeRow, StartRule, command_targets, covers, lead_fell_short, plan, play_at

T = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)


def fleet(n: int, zones: int) -> list[NodeRow]:
    return [NodeRow(f"loa-{i}", (f"thon-{i % zones}",), "speaker", i % 10 != 0) for i in range(n)]


def test_each_covered_node_is_reached_by_one_command_and_camera_nodes_never():
    nodes = [NodeRow("a", ("thon-1", "thon-2")), NodeRow("b", ("thon-2",)), NodeRow("c", ("thon-3",)),
             NodeRow("cam", ("thon-1",), kind="camera"), NodeRow("d", ())]
    p = plan({"zones": ["thon-2", "thon-1"], "nodes": ["d", "ghost"]}, nodes)
    assert p.targets == ("zone:thon-2", "zone:thon-1", "node:d", "node:ghost")
    # a node in two targeted zones is reached through the first zone of the targets
    assert p.reach == {"a": "zone:thon-2", "b": "zone:thon-2", "d": "node:d", "ghost": "node:ghost"}
    assert plan({"all": True}, nodes).reach == {n.id: "all" for n in nodes if n.kind != "camera"}
    assert command_targets({"all": True, "zones": ["x"]}) == ["all"]
    assert not covers({"all": True}, nodes[3]) and covers({"zones": ["thon-3"]}, nodes[2])


def test_plan_at_10000_nodes_and_200_zones_is_one_pass():
    nodes = fleet(10_000, 200)
    targets = {"zones": [f"thon-{z}" for z in range(200)]}
    started = time.perf_counter()
    p = plan(targets, nodes)
    elapsed = time.perf_counter() - started
    print(f"plan of 10 000 nodes / 200 zones: {elapsed * 1000:.1f} ms")
    assert len(p.reach) == 10_000 and len(p.targets) == 200 and len(p.online) == 9_000
    assert all(p.reach[n.id] == f"zone:{n.zones[0]}" for n in nodes)


def test_the_start_leaves_the_lead_after_publishing_and_grows_with_the_broadcast():
    rule = StartRule(lead_s=5, per_1000_nodes_s=0.5, per_command_s=0.001, publish_base_s=0.25)
    small, big = play_at(rule, T, None, 1, 10), play_at(rule, T, None, 20, 10_000)
    assert small - T == timedelta(seconds=5.25 + 0.001 + 0.005)
    assert big - T == timedelta(seconds=5.25 + 0.02 + 5.0)
    later = T + timedelta(minutes=10)
    assert play_at(rule, T, later, 20, 10_000) == later  # a timed bulletin keeps its time
    capped = StartRule(lead_s=5, per_1000_nodes_s=100, max_extra_s=30)
    assert play_at(capped, T, None, 1, 1_000_000) - T == timedelta(seconds=35)
    assert not lead_fell_short(rule, T + timedelta(seconds=0.2), small)
    assert lead_fell_short(rule, T + timedelta(seconds=0.3), T + timedelta(seconds=5.2))
