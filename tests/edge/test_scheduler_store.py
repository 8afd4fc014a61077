"""Job store survival and recurrence triggers (APScheduler 3.x, no broker)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import text

from edge_agent.programme.scheduler import open_store_engine, recurrence_trigger
from loaxa_contract.models import Recurrence

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def test_corrupt_store_is_moved_aside_and_fresh_one_uses_wal(tmp_path):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    engine = open_store_engine(path)
    with engine.connect() as con:
        assert con.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert len(list(tmp_path.glob("jobs.sqlite.corrupt-*"))) == 1


def test_recurrence_triggers_in_local_time():
    weekly = recurrence_trigger(Recurrence(kind="weekly", at=time(17, 30), weekdays=[0, 4]), "Asia/Ho_Chi_Minh")
    start = datetime(2025, 3, 4, 12, tzinfo=VN)  # a Tuesday
    nxt = weekly.get_next_fire_time(None, start)
    assert nxt == datetime(2025, 3, 7, 17, 30, tzinfo=VN)  # Friday
    monthly = recurrence_trigger(Recurrence(kind="monthly", at=time(6), month_days=[1, 15],
                                            start_date="2025-03-01", end_date="2025-03-20"), "Asia/Ho_Chi_Minh")
    assert monthly.get_next_fire_time(None, start) == datetime(2025, 3, 15, 6, tzinfo=VN)
    assert monthly.get_next_fire_time(None, datetime(2025, 3, 16, tzinfo=VN)) is None
