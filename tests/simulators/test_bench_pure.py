"""The pure parts of the fleet and the fan-out benchmark: the plan, percentiles, spreads, legs, report."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from simulators.bench import stats
from simulators.bench.fanout import ingestion_rate
from simulators.bench.report import table, to_json
from simulators.fleet_plan import plan_nodes, process_count, shard, zone_of


def test_plan_spreads_nodes_evenly_over_villages_and_deals_them_round_robin() -> None:
    specs = plan_nodes(10_000, 20)
    assert len(specs) == 10_000 and len({s.node for s in specs}) == 10_000
    sizes = {z: sum(1 for s in specs if s.zone == z) for z in {s.zone for s in specs}}
    assert len(sizes) == 20 and set(sizes.values()) == {500}
    assert process_count(10_000) == 10 and process_count(1000) == 1 and process_count(1001) == 2
    shards = shard(specs, process_count(10_000))
    assert [len(s) for s in shards] == [1000] * 10
    # a village lives in every process, like loudspeakers that share nothing
    assert all(len({s.zone for s in part}) == 20 for part in shards)


def test_plan_uneven_and_tiny_fleets() -> None:
    specs = plan_nodes(7, 3)
    assert [s.node for s in specs] == ["thon-1-loa-1", "thon-1-loa-2", "thon-1-loa-3", "thon-2-loa-1",
                                       "thon-2-loa-2", "thon-3-loa-1", "thon-3-loa-2"]
    assert zone_of(specs)["thon-3-loa-2"] == "thon-3"
    assert len(plan_nodes(2, 20)) == 2  # fewer nodes than villages: one village each
    assert shard(plan_nodes(2, 1), 5) == [[plan_nodes(2, 1)[0]], [plan_nodes(2, 1)[1]]]
    with pytest.raises(ValueError):
        plan_nodes(0, 1)
    with pytest.raises(ValueError):
        process_count(10, 0)


def test_nearest_rank_percentiles() -> None:
    s = stats.summarise([0.1 * i for i in range(1, 101)])  # 0.1 … 10.0
    assert (s.count, s.p50, s.p95, s.p99, s.max) == (100, pytest.approx(5.0), pytest.approx(9.5),
                                                     pytest.approx(9.9), pytest.approx(10.0))
    one = stats.summarise([0.25])
    assert one.p50 == one.p99 == one.max == 0.25
    assert math.isnan(stats.summarise([]).p99)


def test_start_spread_per_village_and_lateness() -> None:
    t = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    started = {"a1": t, "a2": t + timedelta(milliseconds=12), "b1": t + timedelta(seconds=2), "c1": t}
    zones = {"a1": "a", "a2": "a", "b1": "b", "c1": "c", "z9": "z"}
    assert stats.spread_by_zone(started, zones) == {"a": pytest.approx(0.012), "b": 0.0, "c": 0.0}
    late = stats.lateness(started, t + timedelta(seconds=1))
    assert late["b1"] == pytest.approx(1.0) and late["a1"] == pytest.approx(-1.0)


def test_legs_split_the_way_to_received_and_skip_missing_nodes() -> None:
    legs = stats.split_legs(submit=100.0, sent={"n1": 100.5, "n2": 100.5}, got={"n1": 100.6, "n2": 101.5},
                            acked={"n1": 100.65, "n2": 101.6}, seen={"n1": 100.7, "n2": 101.7, "n3": 102.0})
    by = {leg.name: leg.seconds for leg in legs}
    assert by["hq"] == {"n1": pytest.approx(0.5), "n2": pytest.approx(0.5)}
    assert by["broker_out"] == {"n1": pytest.approx(0.1), "n2": pytest.approx(1.0)}
    assert by["node"] == {"n1": pytest.approx(0.05), "n2": pytest.approx(0.1)}
    assert by["broker_back"] == {"n1": pytest.approx(0.05), "n2": pytest.approx(0.1)}  # n3: no ack stamp
    shares = stats.leg_shares(legs)
    assert sum(shares.values()) == pytest.approx(1.0) and shares["hq"] == pytest.approx(0.5 / 1.2)


def test_serial_node_work() -> None:
    w = stats.serial_node_work(cpu_s=20.0, nodes=1000, cores=2)
    assert w == {"fleet_cpu_s": 20.0, "per_node_ms": 20.0, "serial_wall_s": 10.0, "parallel_wall_ms": 20.0}


def test_ingestion_rate_from_polled_counter() -> None:
    series = [(10.0, 100.0), (11.0, 100.0), (12.0, 1100.0), (13.0, 1600.0), (14.0, 1600.0)]
    rate = ingestion_rate(series, first_ack=11.0)
    assert rate == {"mean_per_s": 750.0, "peak_per_s": 1000.0, "acks": 1500.0}
    assert ingestion_rate(series[:1], 11.0)["mean_per_s"] is None


def test_report_is_json_and_a_table() -> None:
    s = stats.summarise([0.01, 0.02])
    result = {
        "machine": {"cpu": "x", "cores": 2, "memory_gb": 1.0, "python": "3.11", "load_1m_at_start": 1.0},
        "nodes": 2, "zones": 1, "database": "sqlite",
        "baseline": {"round_trip": s, "legs": {"broker_out": s}},
        "loaxa": {"processes": 1, "submit_to_received": s, "submit_to_received_at_node": s, "submit_to_played": s,
                  "start_spread_per_village": stats.summarise([0.003]), "start_after_play_at": None,
                  "legs": {"hq": s}, "leg_shares": {"hq": 1.0}, "post_s": 0.2, "hq_state": "completed",
                  "submit_to_completed_s": 6.1, "played": 2, "received": 2, "not_played": {},
                  "worst_village": {"zone": "thon-1", "spread_ms": 3.0}, "hq_cpu_s": 1.0, "hq_rss_peak_mb": 90.0,
                  "broker_cpu_s": 0.1, "fleet_cpu_s": 0.5, "bench_cpu_s": 0.1,
                  "acks_ingested": {"mean_per_s": 10.0, "peak_per_s": 12.0, "acks": 10},
                  "hq_inbound_queue_peak": 0, "serial_node_work_to_received": None, "hq_histograms": {}},
        "ratio_to_baseline": {"p50": 1.0, "p99": 1.0},
    }
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["loaxa"]["submit_to_received"] == {"count": 2, "p50": 10.0, "p95": 20.0, "p99": 20.0,
                                                  "max": 20.0, "mean": 15.0}
    text = table(result)
    assert "bare broker round trip" in text and "start spread per village" in text and "p99 1.0×" in text


def test_ready_in_time_needs_the_margin_before_play_at() -> None:
    rendered = {"a": 100.0, "b": 98.5, "c": 103.0}
    assert stats.ready_in_time(rendered, play_at=101.0, margin_s=2.0) == {"b"}


def test_loop_lag_at_a_moment_and_over_a_window() -> None:
    samples = [(10.00, 0.001, 5.0), (10.01, 0.002, 5.005), (10.05, 0.030, 5.04), (10.06, 0.001, 5.045)]
    assert stats.lag_at(samples, 10.02) == 0.030  # the tick after that moment ran 30 ms late
    assert math.isnan(stats.lag_at(samples, 11.0))
    load = stats.loop_load(samples, 10.0, 10.06)
    assert load["lag_max"] == 0.030 and load["ticks"] == 4
    assert load["cpu_share"] == pytest.approx(0.045 / 0.06)
    assert math.isnan(stats.loop_load(samples, 20.0, 21.0)["lag_max"])
