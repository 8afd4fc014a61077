"""When a recurring bulletin plays, and how long its signed command must live (pure, no I/O).

Why does HQ compute occurrences at all? The node schedules the series itself, but it drops the series
when the command expires: a series whose command expires before its end (the old default, send time +
``command_ttl_s``) silently stops after an hour. So HQ derives the command's lifetime from the
recurrence:

* with ``end_date``: the last occurrence on or before it, plus ``tail`` (the same window a one-off gets
  after its send time), so the last play can start late (misfire grace) and finish;
* ``once``: its one occurrence plus ``tail``;
* open-ended (no ``end_date``): ``horizon`` from now, **renewed** by HQ (a fresh signed command with a
  later expiry) when less than ``renew_before`` remains, until the bulletin is cancelled.

A series with no occurrence between its start and its expiry can never play and is refused.
Occurrences are computed in the commune's time zone, day by day, in a bounded loop (``MAX_SCAN_DAYS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from loaxa_contract.models import Recurrence

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_SCAN_DAYS = 3 * 366 + 31
"""How far ahead occurrences are searched; a monthly series on the 31st finds one within two months,
so a series with nothing in this span is treated as having no occurrence."""


def _plays_on(rec: Recurrence, day: date) -> bool:
    if rec.start_date and day < date.fromisoformat(rec.start_date):
        return False
    if rec.end_date and day > date.fromisoformat(rec.end_date):
        return False
    if rec.kind == "weekly":
        return day.weekday() in rec.weekdays
    if rec.kind == "monthly":
        return day.day in rec.month_days
    return True  # daily; "once" is handled by its caller


def occurrences(rec: Recurrence, after: datetime, tz: ZoneInfo = LOCAL) -> Iterator[datetime]:
    """Occurrences strictly after ``after``, in order (aware, in ``tz``); finite for every input."""
    local = after.astimezone(tz)
    if rec.kind == "once":
        if rec.start_date:
            at = datetime.combine(date.fromisoformat(rec.start_date), rec.at, tz)
        else:  # the node plays it at the next such time of day
            at = datetime.combine(local.date(), rec.at, tz)
            if at <= local:
                at += timedelta(days=1)
        if at > local:
            yield at
        return
    day = local.date()
    if rec.start_date:
        day = max(day, date.fromisoformat(rec.start_date))
    last = date.fromisoformat(rec.end_date) if rec.end_date else day + timedelta(days=MAX_SCAN_DAYS)
    last = min(last, local.date() + timedelta(days=MAX_SCAN_DAYS))
    while day <= last:
        if _plays_on(rec, day):
            at = datetime.combine(day, rec.at, tz)
            if at > local:
                yield at
        day += timedelta(days=1)


def next_occurrence(rec: Recurrence, after: datetime, before: datetime | None = None,
                    tz: ZoneInfo = LOCAL) -> datetime | None:
    """The first occurrence after ``after`` (and before ``before``, if given), else None."""
    for at in occurrences(rec, after, tz):
        return at if before is None or at < before else None
    return None


def last_occurrence(rec: Recurrence, after: datetime, tz: ZoneInfo = LOCAL) -> datetime | None:
    """The last occurrence of a bounded series (``once`` or with ``end_date``) after ``after``; None if none.

    Open-ended series have no last occurrence: call only when :func:`bounded` is true.
    """
    if rec.kind != "once" and not rec.end_date:
        raise ValueError("an open-ended series has no last occurrence")
    if rec.kind == "once":
        return next_occurrence(rec, after, tz=tz)
    end = date.fromisoformat(rec.end_date)  # type: ignore[arg-type]
    start = after.astimezone(tz).date()
    if rec.start_date:
        start = max(start, date.fromisoformat(rec.start_date))
    day = end
    while day >= start:  # backwards from the end: the last playing day is usually within a month of it
        if _plays_on(rec, day):
            at = datetime.combine(day, rec.at, tz)
            return at if at > after else None
        day -= timedelta(days=1)
    return None


def bounded(rec: Recurrence) -> bool:
    return rec.kind == "once" or rec.end_date is not None


@dataclass(frozen=True)
class SeriesLifetime:
    """The command lifetime of a series: ``expires_at``, and when HQ must renew it (open-ended only)."""

    expires_at: datetime
    renew_at: datetime | None


def series_lifetime(rec: Recurrence, start: datetime, *, tail: timedelta, horizon: timedelta,
                    renew_before: timedelta) -> SeriesLifetime | None:
    """Default lifetime of a series that starts at ``start``; None when it has no occurrence at all."""
    if bounded(rec):
        last = last_occurrence(rec, start)
        return None if last is None else SeriesLifetime(last + tail, None)
    if next_occurrence(rec, start) is None:
        return None
    expires = start + horizon
    return SeriesLifetime(expires, expires - renew_before)


def renewed_lifetime(now: datetime, *, horizon: timedelta, renew_before: timedelta) -> SeriesLifetime:
    """The lifetime of an open-ended series renewed at ``now``."""
    expires = now + horizon
    return SeriesLifetime(expires, expires - renew_before)
