"""What will play when and where: one-off and recurring bulletins, relays and programme windows over a
date range (pure: no I/O, no clock).

The calendar is a prediction from HQ's records — the nodes hold the schedules — computed the way the
nodes compute them: a recurrence's ``at`` is local time (Asia/Ho_Chi_Minh), weekdays 0 = Monday,
``start_date``/``end_date`` bound the series, and a series ends at its bulletin's expiry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHOWN_STATES = ("awaiting_approval", "scheduled", "sending", "active", "completed")


@dataclass(frozen=True)
class Entry:
    bulletin_id: str
    title: str
    kind: str  # text, audio, relay
    priority: str
    state: str
    start: datetime  # aware, UTC
    end: datetime | None
    recurring: bool
    targets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowEntry:
    scope: str  # zone or node
    ident: str
    day: date
    start: str  # HH:MM local
    end: str


def _days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def _parse_time(value: str) -> time:
    return time.fromisoformat(value)


def recurrence_dates(rec: dict[str, Any], first: date, last: date) -> list[date]:
    """Local dates in [first, last] on which a recurrence plays (``once`` = its start date)."""
    start = date.fromisoformat(rec["start_date"]) if rec.get("start_date") else first
    end = date.fromisoformat(rec["end_date"]) if rec.get("end_date") else last
    lo, hi = max(first, start), min(last, end)
    kind = rec.get("kind")
    out = []
    for d in _days(lo, hi):
        if kind == "daily" or (kind == "weekly" and d.weekday() in (rec.get("weekdays") or [])) or (
                kind == "monthly" and d.day in (rec.get("month_days") or [])) or (kind == "once" and d == start):
            out.append(d)
    return out


def bulletin_entries(b: Any, first: date, last: date) -> list[Entry]:
    """Entries of one bulletin (ORM row or any object with its fields) between two local dates."""
    if b.state not in SHOWN_STATES:
        return []
    common = {"bulletin_id": b.id, "title": b.title, "kind": b.kind, "priority": b.priority, "state": b.state,
              "targets": b.targets or {}}
    if b.recurrence:
        at = _parse_time(b.recurrence["at"])
        length = timedelta(seconds=b.audio_duration_s or 0)
        created = b.created_at.astimezone(TZ).date()
        out = []
        for d in recurrence_dates(b.recurrence, max(first, created), last):
            start = datetime.combine(d, at, TZ)
            if start < b.created_at:
                continue
            if start > b.expires_at:
                break
            out.append(Entry(start=start, end=start + length if length else None, recurring=True, **common))
        return out
    start = b.play_at or b.send_at or b.created_at
    end = b.relay_end_at if b.kind == "relay" else (
        start + timedelta(seconds=b.audio_duration_s) if b.audio_duration_s else None)
    if not first <= start.astimezone(TZ).date() <= last:
        return []
    return [Entry(start=start, end=end, recurring=False, **common)]


def window_entries(scope: str, ident: str, value: dict[str, Any], first: date, last: date) -> list[WindowEntry]:
    """Programme windows (``{"windows": [{"start", "end", "days"}]}``) on each date of the range."""
    out = []
    for d in _days(first, last):
        for w in value.get("windows") or []:
            if d.weekday() in (w.get("days") or range(7)):
                out.append(WindowEntry(scope, ident, d, w["start"][:5], w["end"][:5]))
    return out


def covers_zone(targets: dict[str, Any], zone: str, node_zones: dict[str, list[str]]) -> bool:
    """Does a bulletin with ``targets`` play in ``zone`` (directly, through ``all``, or through a named node)?"""
    if targets.get("all") or zone in (targets.get("zones") or []):
        return True
    return any(zone in node_zones.get(n, []) for n in targets.get("nodes") or [])
