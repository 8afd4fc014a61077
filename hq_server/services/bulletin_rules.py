"""How long a bulletin's command lives: one-offs get ``command_ttl_s``, series live until their end.

Kept apart from the route so the rule reads in one place (docs/hq.md, "Recurring bulletins"): a
recurring bulletin's default expiry comes from its recurrence (:mod:`hq_server.services.recurrence`),
never from ``command_ttl_s`` alone, and a series that cannot play before its expiry is refused with a
400 that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hq_server.config import BulletinSection
from hq_server.errors import ApiError
from hq_server.localtime import LOCAL
from hq_server.services.recurrence import SeriesLifetime, next_occurrence, series_lifetime
from loaxa_contract.models import Recurrence


@dataclass(frozen=True)
class LifetimeRules:
    ttl: timedelta
    horizon: timedelta
    renew_before: timedelta

    @classmethod
    def from_config(cls, command_ttl_s: float, bulletins: BulletinSection) -> LifetimeRules:
        return cls(timedelta(seconds=command_ttl_s), timedelta(days=bulletins.recurrence_horizon_days),
                   timedelta(days=bulletins.recurrence_renew_before_days))


def _no_occurrence(detail: str) -> ApiError:
    return ApiError(400, "Lịch lặp không có lần phát nào trước khi hết hạn (the recurrence never plays before the "
                         "bulletin expires)", {"recurrence": detail})


def lifetime(rules: LifetimeRules, start: datetime, recurrence: Recurrence | None,
             expires_at: datetime | None) -> SeriesLifetime:
    """``expires_at`` (and ``renew_at`` for an open-ended series) of a bulletin first sent at ``start``.

    An explicit ``expires_at`` wins (never renewed), but a series must still have an occurrence before it.
    """
    if recurrence is None:
        return SeriesLifetime(expires_at or start + rules.ttl, None)
    if expires_at is not None:
        first = next_occurrence(recurrence, start, expires_at)
        if first is None:
            raise _no_occurrence(f"không có lần phát nào trước {expires_at.astimezone(LOCAL):%d/%m/%Y %H:%M} "
                                 f"(no occurrence between the send time and expires_at)")
        return SeriesLifetime(expires_at, None)
    life = series_lifetime(recurrence, start, tail=rules.ttl, horizon=rules.horizon, renew_before=rules.renew_before)
    if life is None:
        end = f" (end_date {recurrence.end_date})" if recurrence.end_date else ""
        raise _no_occurrence(f"không còn lần phát nào sau {start.astimezone(LOCAL):%d/%m/%Y %H:%M}{end} "
                             f"(no occurrence after the send time)")
    return life
