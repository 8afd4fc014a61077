"""Figures of a fan-out benchmark (pure): percentiles, start spread per village, the split of a round trip.

Everything here works on plain numbers and dicts, so the same code reduces a bare-broker run and a LoaXa
run, and a test can check it on made-up timings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True)
class Summary:
    """Distribution of a latency in seconds (nearest-rank percentiles)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    def as_ms(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {k: round(v * 1000, 1) for k, v in asdict(self).items() if k != "count"}
        return {"count": self.count, **out}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0–100); NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(values: Iterable[float]) -> Summary:
    v = sorted(values)
    mean = sum(v) / len(v) if v else math.nan
    return Summary(len(v), percentile(v, 50), percentile(v, 95), percentile(v, 99), v[-1] if v else math.nan, mean)


def latencies(start: float, at: Mapping[str, float]) -> dict[str, float]:
    """Per node, seconds from ``start`` to its time in ``at``."""
    return {node: t - start for node, t in at.items()}


def spread_by_zone(started: Mapping[str, datetime], zone_of: Mapping[str, str]) -> dict[str, float]:
    """Per village: seconds between its first and its last loudspeaker starting (0 for a single one)."""
    by_zone: dict[str, list[datetime]] = {}
    for node, at in started.items():
        zone = zone_of.get(node)
        if zone is not None:
            by_zone.setdefault(zone, []).append(at)
    return {zone: (max(times) - min(times)).total_seconds() for zone, times in sorted(by_zone.items())}


def lateness(started: Mapping[str, datetime], play_at: datetime) -> dict[str, float]:
    """Per node, seconds its start came after the bulletin's ``play_at`` (negative: early)."""
    return {node: (at - play_at).total_seconds() for node, at in started.items()}


@dataclass(frozen=True)
class Leg:
    """One leg of the way from submit to a node's ``received`` ack, per node."""

    name: str
    what: str
    seconds: dict[str, float]


def split_legs(*, submit: float, sent: Mapping[str, float], got: Mapping[str, float], acked: Mapping[str, float],
               seen: Mapping[str, float]) -> list[Leg]:
    """Split submit → ``received`` per node into legs measured on one clock (every process on this machine).

    ``sent``: the command for the node's topic seen on the broker; ``got``: the command reached the node's
    handler; ``acked``: the node stamped its ``received`` ack; ``seen``: that ack arrived from the broker.
    A node missing one of the times is left out of the legs that need it.
    """
    def leg(a: Mapping[str, float] | float, b: Mapping[str, float]) -> dict[str, float]:
        if isinstance(a, (int, float)):
            return {n: b[n] - a for n in b}
        return {n: b[n] - a[n] for n in b if n in a}

    return [
        Leg("hq", "submit → command published (HQ: render, dispatch, sign, publish)", leg(submit, sent)),
        Leg("broker_out", "published → at the node's handler (broker fan-out, the node's loop picking it up)",
            leg(sent, got)),
        Leg("node", "at the handler → received ack stamped (gate, signature, replay guard, durable store)",
            leg(got, acked)),
        Leg("broker_back", "ack stamped → seen on the broker by the benchmark (publish, broker, tap)",
            leg(acked, seen)),
    ]


def leg_shares(legs: list[Leg]) -> dict[str, float]:
    """Each leg's share of the summed mean legs (0–1): where the time goes on average."""
    means = {leg.name: (sum(leg.seconds.values()) / len(leg.seconds)) if leg.seconds else 0.0 for leg in legs}
    total = sum(max(0.0, m) for m in means.values())
    return {name: (max(0.0, m) / total if total else 0.0) for name, m in means.items()}


def serial_node_work(cpu_s: float, nodes: int, cores: int) -> dict[str, float]:
    """What simulating every node on a few cores costs compared with real nodes working in parallel.

    ``cpu_s``: CPU seconds the fleet's processes spent over a phase. Per node that is ``cpu_s / nodes``;
    a real node spends it alone on its own board. Here the nodes share ``cores`` cores, so the whole
    fleet needs at least ``cpu_s / cores`` seconds of wall time for it: the last node waits for that.
    """
    per_node = cpu_s / nodes if nodes else 0.0
    return {"fleet_cpu_s": round(cpu_s, 3), "per_node_ms": round(per_node * 1000, 3),
            "serial_wall_s": round(cpu_s / max(1, cores), 3), "parallel_wall_ms": round(per_node * 1000, 3)}


READY_MARGIN_S = 2.0
"""A node counts as ready in time when its ``rendered`` ack was stamped at least this long before
``play_at``: its start then needs only the run record and ``playing`` ack (0.5 s budget) and the
amplifier's warm-up (1 s in the simulated nodes' configuration, plus 0.25 s for the switch)."""

LagSample = tuple[float, float, float]
"""One tick of a worker's event-loop monitor: (wall time, how late the tick ran in s, process CPU s)."""


def ready_in_time(rendered: Mapping[str, float], play_at: float, margin_s: float = READY_MARGIN_S) -> set[str]:
    """Nodes whose audio was rendered (``rendered`` ack stamp, epoch s) at least ``margin_s`` before ``play_at``."""
    return {n for n, at in rendered.items() if at <= play_at - margin_s}


def lag_at(samples: list[LagSample], at: float) -> float:
    """How late the worker's loop ran the first monitor tick at or after ``at`` (s): how long the loop was
    busy elsewhere around that moment. NaN when no tick followed."""
    for t, lag, _ in samples:  # sorted by time; a few thousand per run
        if t >= at:
            return lag
    return math.nan


def loop_load(samples: list[LagSample], t0: float, t1: float) -> dict[str, float]:
    """A worker's event loop over [t0, t1]: lag of its ticks (p50, p99, max, in s) and the share of one
    core its process used (CPU seconds / wall seconds)."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return {"ticks": float(len(inside)), "lag_p50": math.nan, "lag_p99": math.nan, "lag_max": math.nan,
                "cpu_share": math.nan}
    lags = sorted(s[1] for s in inside)
    wall = inside[-1][0] - inside[0][0]
    return {"ticks": float(len(inside)), "lag_p50": percentile(lags, 50), "lag_p99": percentile(lags, 99),
            "lag_max": lags[-1], "cpu_share": (inside[-1][2] - inside[0][2]) / wall if wall > 0 else math.nan}
