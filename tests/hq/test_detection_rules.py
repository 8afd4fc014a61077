"""Police-alert rules for detection events: matching, hours, rate limit, Vietnamese text (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hq_server.services.detection_rules import AlertRule, alert_text, first_match, rate_limited

NIGHT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 23:30 in Ha Noi
DAY = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # 10:00


def test_first_matching_rule_by_camera_kind_and_local_hours() -> None:
    market = AlertRule(name="cho-dem", cameras=["cho-xa"], kinds=["person", "motion"], hours=["22:00-05:00"])
    school = AlertRule(name="truong", cameras=["cong-truong"], hours=["21:00-06:00"])
    everywhere = AlertRule(name="moi-noi", kinds=["person"])
    rules = [market, school, everywhere]
    assert first_match(rules, "cho-xa", "motion", NIGHT) is market
    assert first_match(rules, "cho-xa", "motion", DAY) is None  # motion by day: no rule
    assert first_match(rules, "cho-xa", "person", DAY) is everywhere
    assert first_match(rules, "cong-truong", "person", NIGHT) is school
    assert first_match([school], "cong-truong", "motion", NIGHT) is None


def test_rate_limit_per_rule_interval() -> None:
    rule = AlertRule(name="r", min_interval_s=600)
    assert not rate_limited(rule, None, NIGHT)
    assert rate_limited(rule, NIGHT, NIGHT + timedelta(seconds=599))
    assert not rate_limited(rule, NIGHT, NIGHT + timedelta(seconds=600))


def test_alert_text_is_plain_vietnamese_with_name_local_time_and_held_back_count() -> None:
    rule = AlertRule(name="r")
    text = alert_text("person", "Cổng trường (cong-truong)", NIGHT, rule)
    assert text == "Phát hiện người tại camera Cổng trường (cong-truong) lúc 23:30 ngày 01/03/2026."
    more = alert_text("motion", "cho-xa", NIGHT, rule, held_back=4, late=True)
    assert more.startswith("Phát hiện chuyển động tại camera cho-xa") and "thêm 4 lần" in more and "Báo muộn" in more


@pytest.mark.parametrize("kw", [{"hours": ["9-17"]}, {"cameras": ["Bad Id"]}, {"kinds": ["car"]},
                                {"timezone": "Nowhere/Town"}, {"min_interval_s": -1}, {"colour": "red"}])
def test_bad_rules_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AlertRule(name="r", **kw)  # type: ignore[arg-type]
