"""A bulletin's life at HQ: series expiry, naive commune times, honest outcomes, approvals expiring, and a
sweeper whose work does not grow with old bulletins (real HQ app, real Mosquitto, SQLite)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from hq_server.localtime import LOCAL
from hq_server.storage.tables import Bulletin, Delivery
from hq_server.web import DB
from tests.hq.fixtures import wait_async

TEXT = "Ủy ban nhân dân xã thông báo lịch tiêm phòng."


def in_s(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _bulletin(hq, bid: str) -> dict:
    status, body = await hq.call("GET", f"/api/v1/bulletins/{bid}")
    assert status == 200, body
    return body["bulletin"]


async def test_weekly_programme_without_expiry_lives_until_its_end_date(hq):
    end = (datetime.now(LOCAL) + timedelta(days=60)).date()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"all": True},
        "recurrence": {"kind": "weekly", "at": "06:00", "weekdays": [0, 1, 2, 3, 4, 5, 6],
                       "end_date": end.isoformat()}})
    assert status == 201, body
    expires = datetime.fromisoformat(body["bulletin"]["expires_at"]).astimezone(LOCAL)
    assert expires == datetime(end.year, end.month, end.day, 7, 0, tzinfo=LOCAL)  # 06:00 on end_date + 1 h
    assert body["bulletin"]["renew_at"] is None


async def test_open_ended_series_is_given_the_renewal_horizon(hq):
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"all": True}, "recurrence": {"kind": "daily", "at": "06:00"}})
    assert status == 201, body
    b = body["bulletin"]
    left = datetime.fromisoformat(b["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=29) < left <= timedelta(days=30)
    assert datetime.fromisoformat(b["renew_at"]) == datetime.fromisoformat(b["expires_at"]) - timedelta(days=10)


async def test_series_that_cannot_occur_is_refused_with_a_clear_400(hq):
    yesterday = (datetime.now(LOCAL) - timedelta(days=1)).date().isoformat()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"all": True}, "recurrence": {"kind": "daily", "at": "06:00", "end_date": yesterday}})
    assert status == 400, body
    assert "recurrence" in body["fields"] and "không" in body["error"]
    later = (datetime.now(LOCAL) + timedelta(hours=2)).strftime("%H:%M:%S")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"all": True}, "recurrence": {"kind": "daily", "at": later},
        "expires_at": in_s(600)})
    assert status == 400 and "recurrence" in body["fields"], body


async def test_naive_times_are_read_in_the_commune_time_zone(hq):
    send = (datetime.now(LOCAL) + timedelta(days=2)).replace(hour=7, minute=30, second=0, microsecond=0)
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"all": True}, "send_at": send.replace(tzinfo=None).isoformat(),
        "expires_at": (send + timedelta(hours=2)).replace(tzinfo=None).isoformat()})
    assert status == 201, body
    assert datetime.fromisoformat(body["bulletin"]["send_at"]) == send
    assert datetime.fromisoformat(body["bulletin"]["send_at"]).utcoffset() is not None
    assert datetime.fromisoformat(body["bulletin"]["expires_at"]) == send + timedelta(hours=2)


async def test_a_bulletin_no_node_played_is_expired_with_a_reason_not_completed(hq):
    await hq.add_zones("thon-1")
    assert (await hq.call("PUT", "/api/v1/nodes/loa-xa", role="technician", json={"zones": ["thon-1"]}))[0] == 201
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"nodes": ["loa-xa"]}, "expires_at": in_s(1.5)})
    assert status == 201, body
    bid = body["bulletin"]["id"]

    async def ended() -> bool:
        return (await _bulletin(hq, bid))["state"] not in ("scheduled", "sending", "active")

    await wait_async(ended, 20, "bulletin ended")
    b = await _bulletin(hq, bid)
    assert b["state"] == "expired", b
    assert "no node played" in b["state_reason"] and "1 offline" in b["state_reason"]


async def test_awaiting_approval_expires_with_a_reason(start_hq):
    hq = await start_hq(bulletins={"emergency_two_person": True, "lead_time_s": 1.0, "sweep_interval_s": 0.2})
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "priority": "emergency", "targets": {"all": True}, "expires_at": in_s(1.5)})
    assert status == 201 and body["bulletin"]["state"] == "awaiting_approval", body
    bid = body["bulletin"]["id"]

    async def expired() -> bool:
        return (await _bulletin(hq, bid))["state"] == "expired"

    await wait_async(expired, 20, "approval expired")
    assert "approval" in (await _bulletin(hq, bid))["state_reason"]
    status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/approve", role="admin")
    assert status == 409, body


async def test_sweeper_statements_do_not_grow_with_old_bulletins(hq):
    """200 old cancelled/completed bulletins: a sweep pass must not re-read them (it did, 2 per bulletin)."""
    t = datetime.now(UTC)
    async with hq.app[DB].sessions() as s:
        for i in range(200):
            state = "cancelled" if i % 2 else "completed"
            s.add(Bulletin(id=f"old{i:03d}", text=TEXT, targets={"all": True}, state=state, author="t",
                           expires_at=t - timedelta(days=1), created_at=t - timedelta(days=2)))
        await s.flush()
        for i in range(200):
            s.add(Delivery(bulletin_id=f"old{i:03d}", node_id="loa-1", state="played" if i % 2 == 0 else "cancelled"))
        await s.commit()
    await hq.orch.sweep()  # first pass after the insert (closes whatever is due once)

    statements: list[str] = []
    me = asyncio.current_task()

    def count(conn, cursor, statement, *args) -> None:
        if asyncio.current_task() is me:  # not the background sweeper, inbound worker or webhook sweeper
            statements.append(statement)

    engine = hq.app[DB].engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await hq.orch.sweep()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    print(f"SQL statements per sweep pass with 200 old bulletins: {len(statements)}")
    assert len(statements) <= 8, statements
