"""Pure decision logic: programme windows, quiet hours, priority order, preemption — clock injected."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge_agent.programme.queue import PlayQueue, QueueItem, preempts
from edge_agent.programme.windows import Programme
from loaxa_contract.models import ProgramWindow

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(h: int, m: int = 0, day: int = 3) -> datetime:  # 2025-03-03 is a Monday
    return datetime(2025, 3, day, h, m, tzinfo=VN)


PROG = Programme((ProgramWindow(start=time(5, 30), end=time(6, 30)), ProgramWindow(start=time(17), end=time(18))),
                 quiet_start=time(22), quiet_end=time(5))


def item(bid: str, rank: int = 0, order: int = 1, **kw) -> QueueItem:
    return QueueItem(bid, f"c-{bid}", rank, order, kw.pop("expires_at", at(23, day=9)), **kw)


def test_windows_quiet_hours_and_boundaries():
    assert PROG.window_at(at(5, 45)) is not None and PROG.window_at(at(7)) is None
    assert PROG.window_at(at(17, 59)).end == at(18)
    assert PROG.is_quiet(at(23)) and PROG.is_quiet(at(4, 59)) and not PROG.is_quiet(at(5))
    assert PROG.next_boundary(at(6, 45)) == at(17)
    assert PROG.next_boundary(at(18, 0)) == at(22)
    assert PROG.next_boundary(at(22, 30)) == at(5, day=4)
    assert Programme().in_window(at(3)) and not Programme().is_quiet(at(3))


def test_window_crossing_midnight_and_weekdays():
    night = Programme((ProgramWindow(start=time(23), end=time(1), days=[0]),))
    assert night.window_at(at(23, 30)) is not None  # Monday 23:30
    assert night.window_at(at(0, 30, day=4)) is not None  # Tuesday 00:30, started Monday
    assert night.window_at(at(23, 30, day=4)) is None  # Tuesday evening: not a programme day


def test_untimed_normal_waits_for_window_emergency_does_not():
    q = PlayQueue()
    q.push(item("n"))
    q.push(item("e", rank=2, order=5))
    assert q.next_ready(at(7), PROG).bulletin_id == "e"
    assert q.next_ready(at(7), PROG) is None
    assert q.wake_at(at(7), PROG) == at(17)
    assert q.next_ready(at(17), PROG).bulletin_id == "n"


def test_quiet_hours_hold_everything_but_emergency():
    q = PlayQueue()
    q.push(item("timed", timed=True, start_at=at(23)))
    q.push(item("e", rank=2))
    assert q.next_ready(at(23), PROG).bulletin_id == "e"
    assert q.next_ready(at(23), PROG) is None


def test_priority_first_then_operator_order():
    q = PlayQueue()
    for bid, rank, order in [("n1", 0, 1), ("p2", 1, 3), ("p1", 1, 2), ("n0", 0, 0)]:
        q.push(item(bid, rank, order))
    got = [q.next_ready(at(17, 10), PROG).bulletin_id for _ in range(4)]
    assert got == ["p1", "p2", "n0", "n1"]


def test_timed_item_taken_lead_before_start_even_outside_window():
    q = PlayQueue(lead=timedelta(seconds=3))
    q.push(item("t", timed=True, start_at=at(12)))
    assert q.next_ready(at(12) - timedelta(seconds=4), PROG) is None
    assert q.wake_at(at(11), PROG) == at(12) - timedelta(seconds=3)
    assert q.next_ready(at(12) - timedelta(seconds=3), PROG).bulletin_id == "t"


def test_expired_items_are_popped_not_played():
    q = PlayQueue()
    q.push(item("old", expires_at=at(16)))
    q.push(item("ok"))
    assert [i.bulletin_id for i in q.pop_expired(at(17))] == ["old"]
    assert q.next_ready(at(17), PROG).bulletin_id == "ok"


def test_preemption_rules():
    assert preempts(item("e", 2), item("n", 0)) and preempts(item("e", 2), item("p", 1))
    assert not preempts(item("e2", 2), item("e1", 2)) and not preempts(item("p", 1), item("n", 0))
    assert not preempts(item("e", 2), None)


def test_utc_input_is_handled_in_local_time():
    assert PROG.window_at(datetime(2025, 3, 3, 10, 30, tzinfo=UTC)) is not None  # 17:30 in Hà Nội
