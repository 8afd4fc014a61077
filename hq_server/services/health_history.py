"""A node's health over time: samples kept from its reports, and availability from its online/offline events.

Why a table of samples: a node's retained health is only its latest report, and the technician needs to
see when the temperature climbed or the disk filled, over the last day or week. Each live (not
historical) report becomes one row; rows older than ``keep`` are deleted (checked at most once an hour).
At the default report interval (60 s) that is ≈ 11 500 rows per node for 8 days.

The series functions are pure: samples → evenly spaced buckets (mean per bucket, None where no report
came), and online/offline events → the share of each bucket a node was online, plus its uptime over a
period. Time is epoch seconds, as the charts want it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.storage.tables import NodeEvent, NodeSample, now
from loaxa_contract.models import NodeHealth

logger = logging.getLogger(__name__)

FIELDS = ("cpu_temp_c", "disk_free_bytes", "clock_offset_ms", "volume", "queue_length")
SPANS = {"24h": (timedelta(hours=24), 300), "7d": (timedelta(days=7), 3600)}
"""Span name → (length, bucket seconds): 288 points for a day, 168 for a week."""
KEEP = timedelta(days=8)
PRUNE_EVERY_S = 3600.0


def sample_from(health: NodeHealth) -> NodeSample:
    return NodeSample(node_id=health.node, at=health.ts, cpu_temp_c=health.cpu_temp_c,
                      disk_free_bytes=health.disk_free_bytes, clock_offset_ms=health.clock_offset_ms,
                      volume=health.volume, queue_length=health.queue_length, relay_on=health.relay_on,
                      audio_device_ok=health.audio_device_ok, problems=len(health.problems or {}))


class HealthHistory:
    """Adds one sample per live health report to the transaction that records the report (an orchestrator
    health writer: one commit for a whole batch of reports), and prunes old rows at most once an hour."""

    def __init__(self, keep: timedelta = KEEP) -> None:
        self.keep = keep
        self._pruned_at = 0.0

    async def add(self, session: AsyncSession, health: NodeHealth) -> None:
        if health.historical:  # sent late from the node's outbox: its time is not "now", skip it
            return
        session.add(sample_from(health))
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            result = await session.execute(delete(NodeSample).where(NodeSample.at < now() - self.keep))
            if result.rowcount:  # type: ignore[attr-defined]
                logger.info("pruned %d node health sample(s) older than %s", result.rowcount,  # type: ignore[attr-defined]
                            self.keep)


# ---------------------------------------------------------------------------------------------- pure series


@dataclass(frozen=True)
class Buckets:
    start: datetime
    step_s: int
    count: int

    @property
    def times(self) -> list[int]:
        base = int(self.start.timestamp())
        return [base + i * self.step_s for i in range(self.count)]

    def index(self, at: datetime) -> int | None:
        i = int((at - self.start).total_seconds() // self.step_s)
        return i if 0 <= i < self.count else None


def buckets_for(span: str, end: datetime) -> Buckets:
    """Evenly spaced buckets covering ``span`` up to ``end``, aligned on the step (stable between reloads)."""
    length, step = SPANS[span]
    last = int(end.timestamp()) // step * step
    count = int(length.total_seconds()) // step
    start = datetime.fromtimestamp(last - (count - 1) * step, tz=end.tzinfo)
    return Buckets(start, step, count)


def mean_series(samples: Iterable[NodeSample], b: Buckets, field: str) -> list[float | None]:
    sums = [0.0] * b.count
    counts = [0] * b.count
    for s in samples:
        value = getattr(s, field)
        i = b.index(s.at)
        if value is None or i is None:
            continue
        sums[i] += float(value)
        counts[i] += 1
    return [round(sums[i] / counts[i], 2) if counts[i] else None for i in range(b.count)]


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    online: bool | None  # None: HQ did not know the node yet


def intervals(events: Sequence[NodeEvent], before: str | None, start: datetime, end: datetime) -> list[Interval]:
    """Online/offline intervals over [start, end] from the state before ``start`` and the events inside."""
    out: list[Interval] = []
    state: bool | None = None if before is None else before == "online"
    cursor = start
    for e in sorted((e for e in events if e.event in ("online", "offline")), key=lambda e: e.at):
        if e.at <= start:
            state = e.event == "online"
            continue
        if e.at >= end:
            break
        if e.at > cursor:
            out.append(Interval(cursor, e.at, state))
        cursor, state = e.at, e.event == "online"
    if end > cursor:
        out.append(Interval(cursor, end, state))
    return out


def online_series(spans: Sequence[Interval], b: Buckets) -> list[float | None]:
    """Share (0..1) of each bucket the node was online; None where HQ knew nothing of it."""
    online = [0.0] * b.count
    known = [0.0] * b.count
    for iv in spans:
        if iv.online is None:
            continue
        for i in range(b.count):
            lo = b.start + timedelta(seconds=i * b.step_s)
            hi = lo + timedelta(seconds=b.step_s)
            overlap = (min(hi, iv.end) - max(lo, iv.start)).total_seconds()
            if overlap > 0:
                known[i] += overlap
                online[i] += overlap if iv.online else 0.0
    return [round(online[i] / known[i], 3) if known[i] else None for i in range(b.count)]


@dataclass(frozen=True)
class Availability:
    online_s: float
    offline_s: float
    unknown_s: float
    disconnects: int

    @property
    def uptime_percent(self) -> float | None:
        """Online share of the time HQ knew the node's state (None if it never did)."""
        known = self.online_s + self.offline_s
        return round(100 * self.online_s / known, 2) if known else None


def availability(spans: Sequence[Interval]) -> Availability:
    on = sum((iv.end - iv.start).total_seconds() for iv in spans if iv.online is True)
    off = sum((iv.end - iv.start).total_seconds() for iv in spans if iv.online is False)
    unknown = sum((iv.end - iv.start).total_seconds() for iv in spans if iv.online is None)
    drops = sum(1 for a, b in itertools.pairwise(spans) if a.online is True and b.online is False)
    return Availability(on, off, unknown, drops)


async def node_intervals(s: AsyncSession, node_id: str | None, start: datetime,
                         end: datetime) -> dict[str, list[Interval]]:
    """Per node (all nodes when ``node_id`` is None): intervals over [start, end] from the event table."""
    q = select(NodeEvent).where(NodeEvent.event.in_(("online", "offline")), NodeEvent.at < end)
    if node_id is not None:
        q = q.where(NodeEvent.node_id == node_id)
    by_node: dict[str, list[NodeEvent]] = {}
    for e in (await s.scalars(q.order_by(NodeEvent.at))).all():
        by_node.setdefault(e.node_id, []).append(e)
    out: dict[str, list[Interval]] = {}
    for nid, evs in by_node.items():
        before = [e for e in evs if e.at <= start]
        out[nid] = intervals([e for e in evs if e.at > start], before[-1].event if before else None, start, end)
    return out
