"""A fan-out result as JSON (latencies in milliseconds) and as a table for people (pure)."""

from __future__ import annotations

import math
from typing import Any

from simulators.bench.stats import Summary


def to_json(value: Any) -> Any:
    """Summaries become ``{count, p50, p95, p99, max, mean}`` in ms; NaN becomes null."""
    if isinstance(value, Summary):
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in value.as_ms().items()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v * 1000:,.1f}"


def _row(label: str, s: Summary | None) -> str:
    if s is None:
        return f"  {label:<34} {'-':>6}"
    cells = "".join(f"{_ms(v):>11}" for v in (s.p50, s.p95, s.p99, s.max))
    return f"  {label:<34} {s.count:>6}{cells}"


def table(result: dict[str, Any]) -> str:
    m, lx, base = result["machine"], result.get("loaxa", {}), result.get("baseline")
    lines = [
        f"LoaXa fan-out: {result['nodes']} nodes, {result['zones']} villages, {lx.get('processes', '?')} worker "
        f"process(es), HQ on {result.get('database', '?')}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}; load (1 min) "
        f"{m['load_1m_at_start']} at start, {m.get('load_1m_at_end', '?')} at end",
        "",
        f"  {'(milliseconds)':<34} {'count':>6}{'p50':>11}{'p95':>11}{'p99':>11}{'max':>11}",
    ]
    if base:
        lines.append(_row("bare broker round trip", base["round_trip"]))
    if lx:
        lines += [
            _row("submit → received (ack on broker)", lx["submit_to_received"]),
            _row("submit → received (stamped at node)", lx["submit_to_received_at_node"]),
            _row("submit → played", lx["submit_to_played"]),
            _row("start spread per village", lx["start_spread_per_village"]),
            _row("start after play_at", lx["start_after_play_at"]),
            *_start_rows(lx),
            "  submit → received, leg by leg:",
            *(_row(f"  {name} ({share:.0%} of mean)", lx["legs"][name]) for name, share in lx["leg_shares"].items()),
        ]
    if base:
        lines += ["  bare broker, leg by leg:", *(_row(f"  {k}", v) for k, v in base["legs"].items())]
    if lx:
        lines += ["", *summary_lines(result, lx)]
    return "\n".join(lines)


def _start_rows(lx: dict[str, Any]) -> list[str]:
    if "nodes_ready_in_time" not in lx:
        return []
    return [
        _row("rendered ahead of play_at", lx["rendered_ahead_of_play_at"]),
        _row("playing ack ahead of play_at", lx.get("playing_ahead_of_play_at")),
        _row("  start after play_at, ready nodes", lx["start_after_play_at_ready"]),
        _row("  start spread per village, ready", lx["start_spread_per_village_ready"]),
        _row("  start after play_at, not ready", lx["start_after_play_at_not_ready"]),
        _row("loop lag at each node's start (sim)", lx["loop_lag_at_start"]),
    ]


def _loop_lines(lx: dict[str, Any]) -> list[str]:
    if "workers_around_play_at" not in lx:
        return []
    lines = [f"ready in time (rendered ≥ {lx['ready_margin_s']} s before play_at): {lx['nodes_ready_in_time']} "
             f"nodes; starts as the nodes described them: {lx['start_details']}"]
    for w in lx["workers_around_play_at"]:
        lines.append(f"worker {w['worker']} ({w['nodes']} nodes), play_at − 2 s → last start: event-loop lag p50 "
                     f"{w['lag_p50']} ms, p99 {w['lag_p99']} ms, max {w['lag_max']} ms; CPU {w['cpu_share']:.0%} "
                     f"of a core")
    return lines


def summary_lines(result: dict[str, Any], lx: dict[str, Any]) -> list[str]:
    ratio = result.get("ratio_to_baseline")
    acks = lx["acks_ingested"]
    closed = (f"HQ marked the bulletin {lx['hq_state']} {lx['submit_to_completed_s']} s after submit"
              if lx["submit_to_completed_s"] is not None else
              f"HQ had not closed the bulletin after {lx.get('waited_s', '?')} s (state {lx['hq_state']})")
    lines = [
        f"POST /api/v1/bulletins answered in {lx['post_s'] * 1000:,.0f} ms; {closed}",
        f"played {lx['played']}/{result['nodes']}, received {lx['received']}/{result['nodes']}"
        + (f"; not played: {len(lx['not_played'])} (e.g. {next(iter(lx['not_played'].items()))})"
           if lx["not_played"] else ""),
        f"worst village start spread: {lx['worst_village']['zone']} {lx['worst_village']['spread_ms']} ms",
    ]
    if ratio:
        lines.append(f"LoaXa / bare broker (submit → received vs round trip): p50 {ratio['p50']}×, p99 {ratio['p99']}×")
    lines += [
        f"HQ: CPU {lx['hq_cpu_s']} s, peak RSS {lx['hq_rss_peak_mb']} MB; broker CPU {lx['broker_cpu_s']} s; "
        f"fleet CPU {lx['fleet_cpu_s']} s; benchmark (tap) CPU {lx['bench_cpu_s']} s",
        f"acks ingested by HQ: mean {acks['mean_per_s']}/s, best ~1 s {acks['peak_per_s']}/s ({acks['acks']} acks); "
        f"HQ inbound queue peak {lx['hq_inbound_queue_peak']}, {lx.get('hq_queue_at_submit', 0)} at submit",
    ]
    serial = lx.get("serial_node_work_to_received")
    if serial:
        lines.append(
            f"node work until every node received: {serial['fleet_cpu_s']} s of CPU = {serial['per_node_ms']} ms per "
            f"node; done in series here (≥ {serial['serial_wall_s']} s of wall time on {result['machine']['cores']} "
            f"cores), a real node spends {serial['parallel_wall_ms']} ms in parallel with the others")
    lines += _loop_lines(lx)
    for name, h in lx.get("hq_histograms", {}).items():
        lines.append(f"HQ /metrics {name}: {h['count']:.0f} observations, mean {h['mean_ms']} ms")
    return lines
