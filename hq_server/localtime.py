"""The commune's time zone, and API timestamps that may omit it.

A commune has one time zone (Asia/Ho_Chi_Minh, UTC+7, no daylight saving). A broadcaster who types
``2026-11-29T07:30:00`` means 07:30 in the commune, so a naive timestamp in the API is read as local
time instead of being refused; one with an offset (``Z``, ``+07:00``) keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def in_commune_time(value: datetime) -> datetime:
    """``value`` unchanged if it carries an offset, else the same wall-clock time in the commune."""
    return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL)


CommuneDatetime = Annotated[datetime, AfterValidator(in_commune_time)]
"""An API timestamp: ISO-8601, with an offset or naive (= Asia/Ho_Chi_Minh)."""
