"""Recurring series live until their end (pure rules): occurrences, default lifetime, renewal, refusal."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from hq_server.config import BulletinSection
from hq_server.errors import ApiError
from hq_server.localtime import LOCAL
from hq_server.services.bulletin_rules import LifetimeRules, lifetime
from hq_server.services.delivery import DeliveryState as S
from hq_server.services.delivery import bulletin_outcome
from hq_server.services.recurrence import last_occurrence, next_occurrence, occurrences, series_lifetime
from loaxa_contract.models import Recurrence

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=LOCAL)  # a Monday, 09:00 local
RULES = LifetimeRules.from_config(3600, BulletinSection())


def rec(**kw) -> Recurrence:
    return Recurrence.model_validate({"at": "06:00", **kw})


def test_weekly_occurrences_follow_weekdays_in_local_time():
    got = list(occurrences(rec(kind="weekly", weekdays=[0, 3], end_date="2026-12-07"), MONDAY))
    assert [d.date().isoformat() for d in got] == ["2026-11-26", "2026-11-30", "2026-12-03", "2026-12-07"]
    assert all(d.time() == time(6, 0) and d.tzinfo == LOCAL for d in got)


def test_monthly_on_the_31st_skips_short_months():
    nxt = next_occurrence(rec(kind="monthly", month_days=[31]), datetime(2026, 11, 1, tzinfo=LOCAL))
    assert nxt is not None and nxt.date().isoformat() == "2026-12-31"


def test_a_weekly_programme_created_today_lives_until_its_end_date_not_one_hour():
    """The reported failure: a weekly 06:00 programme expired one hour after it was created."""
    series = rec(kind="weekly", weekdays=[0], end_date="2027-01-25")
    life = lifetime(RULES, MONDAY, series, None)
    assert life.expires_at == datetime(2027, 1, 25, 7, 0, tzinfo=LOCAL)  # last Monday 06:00 + command_ttl_s
    assert life.renew_at is None


def test_open_ended_series_gets_the_horizon_and_a_renewal_time():
    life = lifetime(RULES, MONDAY, rec(kind="daily"), None)
    assert life.expires_at == MONDAY + timedelta(days=30)
    assert life.renew_at == MONDAY + timedelta(days=20)


def test_once_lives_until_its_occurrence_plus_ttl():
    life = lifetime(RULES, MONDAY, rec(kind="once", start_date="2026-11-29", at="07:30"), None)
    assert life.expires_at == datetime(2026, 11, 29, 8, 30, tzinfo=LOCAL)


@pytest.mark.parametrize("series", [
    {"kind": "daily", "end_date": "2026-11-20"},  # ended before it was sent
    {"kind": "weekly", "weekdays": [6], "start_date": "2026-11-23", "end_date": "2026-11-28"},  # no Sunday in it
    {"kind": "once", "start_date": "2026-11-22"},  # in the past
    {"kind": "daily", "at": "08:00", "end_date": "2026-11-23"},  # today's 08:00 is gone, nothing after
])
def test_a_series_that_never_plays_is_refused_with_the_recurrence_field(series):
    with pytest.raises(ApiError) as err:
        lifetime(RULES, MONDAY, rec(**series), None)
    assert err.value.status == 400 and "recurrence" in (err.value.fields or {})


def test_explicit_expiry_before_the_first_occurrence_is_refused():
    with pytest.raises(ApiError) as err:
        lifetime(RULES, MONDAY, rec(kind="daily", at="06:00"), MONDAY + timedelta(hours=2))
    assert err.value.fields and "recurrence" in err.value.fields
    ok = lifetime(RULES, MONDAY, rec(kind="daily", at="10:00"), MONDAY + timedelta(hours=2))
    assert ok.expires_at == MONDAY + timedelta(hours=2) and ok.renew_at is None


def test_last_occurrence_is_found_backwards_from_a_far_end_date():
    last = last_occurrence(rec(kind="weekly", weekdays=[4], end_date="2029-01-01"), MONDAY)
    assert last is not None and last.date().isoformat() == "2028-12-29"  # the last Friday on or before it
    assert series_lifetime(rec(kind="daily", end_date="2026-11-01"), MONDAY, tail=timedelta(hours=1),
                           horizon=timedelta(days=30), renew_before=timedelta(days=10)) is None


def test_completed_only_when_some_node_played():
    assert bulletin_outcome([S.PLAYED, S.OFFLINE]).state == "completed"
    assert "1/2 played" in (bulletin_outcome([S.PLAYED, S.OFFLINE]).reason or "")
    assert bulletin_outcome([S.PLAYED, S.PLAYED]) == bulletin_outcome([S.PLAYED]).__class__("completed", None)
    nothing = bulletin_outcome([S.EXPIRED, S.OFFLINE])
    assert nothing.state == "expired" and "1 expired" in (nothing.reason or "") and "1 offline" in nothing.reason
    assert bulletin_outcome([S.FAILED, S.FAILED]).state == "failed"
    assert bulletin_outcome([]).state == "expired"


def test_renewal_must_be_inside_the_horizon():
    with pytest.raises(ValueError):
        BulletinSection(recurrence_horizon_days=5, recurrence_renew_before_days=5)
