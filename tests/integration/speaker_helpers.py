"""Helpers of the speaker-node integration tests (fast amplifier timings, wire encoding, local clock)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from loaxa_contract.models import utcnow

VN = ZoneInfo("Asia/Ho_Chi_Minh")

FAST = {"amplifier__warmup_s": 0.2, "amplifier__hold_s": 0.4, "schedule__lead_s": 1.0,
        "schedule__misfire_grace_s": 3, "health_interval_s": 5}


def wire(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def in_s(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def local_hms(t: datetime) -> str:
    return t.astimezone(VN).strftime("%H:%M:%S")


def window_after(start_in_s: float, length_s: float) -> tuple[datetime, datetime, dict]:
    """A programme window starting ``start_in_s`` from now (whole seconds, local time)."""
    start = (utcnow() + timedelta(seconds=start_in_s)).replace(microsecond=0) + timedelta(seconds=1)
    end = start + timedelta(seconds=length_s)
    return start, end, {"start": local_hms(start), "end": local_hms(end)}
