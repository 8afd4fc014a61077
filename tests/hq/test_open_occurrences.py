"""A series' occurrence left open when its delivery ends is closed as missed with a reason, and the node's
own ``played`` still wins (real HQ app: acks through the inbound router as the MQTT link hands them over,
real Mosquitto, SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from hq_server.storage.tables import Bulletin, Node, Zone, now
from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage
from tests.conftest import COMMUNE
from tests.hq.fixtures import Hq, wait_async

NODE = "loa-0001"


async def _series(hq: Hq) -> tuple[str, str]:
    t = now()
    async with hq.app[DB].sessions() as s:
        await s.execute(insert(Zone), [{"slug": "thon-1", "name": "Thôn 1", "created_by": "t", "created_at": t,
                                        "updated_at": t}])
        await s.execute(insert(Node), [{"id": NODE, "zones": ["thon-1"], "state": "online", "state_since": t,
                                        "registered": True}])
        await s.commit()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Chương trình phát thanh buổi sáng.", "targets": {"zones": ["thon-1"]},
        "recurrence": {"kind": "daily", "at": "06:00"}})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    await hq.wait_bulletin(bid, "active")
    return bid, (await hq.deliveries(bid))[NODE]["command_id"]


async def _ack(hq: Hq, bid: str, command_id: str, stage: AckStage, occurrence: datetime, **kw: object) -> None:
    ack = Ack(node=NODE, command_id=command_id, bulletin_id=bid, stage=stage, occurrence=occurrence, **kw)
    await hq.orch.router.on_message(topics.node_ack(COMMUNE, NODE), codec.encode(ack))


async def _occurrences(hq: Hq, bid: str) -> list[dict]:
    status, body = await hq.call("GET", f"/api/v1/bulletins/{bid}/occurrences")
    assert status == 200, body
    return body["occurrences"]


async def test_cancelled_mid_play_the_occurrence_is_missed_with_a_reason_and_a_late_played_wins(hq: Hq):
    bid, command_id = await _series(hq)
    occ = datetime.now(UTC).replace(microsecond=0)
    for stage in (AckStage.RECEIVED, AckStage.SCHEDULED, AckStage.PLAYING):
        await _ack(hq, bid, command_id, stage, occ)
    assert [o["state"] for o in await _occurrences(hq, bid)] == ["playing"]

    status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/cancel", role="broadcaster")
    assert status == 200, body
    await _ack(hq, bid, command_id, AckStage.CANCELLED, occ)  # the node stopped the play and confirms
    [o] = await _occurrences(hq, bid)
    assert o["state"] == "missed", o  # not "playing" for ever
    assert o["reason"].startswith("series ended while it was open") and "cancel" in o["reason"], o

    t = datetime.now(UTC)  # the node had in fact finished it (its played ack was behind the cancel)
    await _ack(hq, bid, command_id, AckStage.PLAYED, occ, started_at=t - timedelta(seconds=5), ended_at=t,
               duration_s=5.0)
    [o] = await _occurrences(hq, bid)
    assert (o["state"], o["reason"], o["duration_s"]) == ("played", None, 5.0), o
    await _ack(hq, bid, command_id, AckStage.PLAYING, occ)  # a duplicate does not reopen it
    assert [o["state"] for o in await _occurrences(hq, bid)] == ["played"]


async def test_a_series_expiring_with_an_occurrence_open_closes_it_as_missed(start_hq):
    hq = await start_hq(bulletins={"sweep_interval_s": 0.2})
    bid, command_id = await _series(hq)
    occ = datetime.now(UTC).replace(microsecond=0)
    await _ack(hq, bid, command_id, AckStage.SCHEDULED, occ)
    await _ack(hq, bid, command_id, AckStage.INTERRUPTED, occ, reason="node_restarted")
    async with hq.app[DB].sessions() as s:  # the series' end comes now (instead of in weeks)
        b = await s.get(Bulletin, bid)
        assert b is not None
        b.expires_at = datetime.now(UTC)
        await s.commit()

    async def closed() -> bool:
        return (await _occurrences(hq, bid))[0]["state"] != "interrupted"

    await wait_async(closed, 20, "open occurrence closed at expiry")
    [o] = await _occurrences(hq, bid)
    assert o["state"] == "missed" and o["reason"].startswith("series ended while it was open"), o
    b = await hq.wait_bulletin(bid, "expired")
    assert b["delivery_summary"] == {"expired": 1}, b


async def test_an_occurrence_that_failed_to_play_is_missed_and_the_series_stays_with_the_node(hq: Hq):
    bid, command_id = await _series(hq)
    occ = datetime.now(UTC).replace(microsecond=0)
    for stage in (AckStage.RECEIVED, AckStage.SCHEDULED, AckStage.PLAYING):
        await _ack(hq, bid, command_id, stage, occ)
    await _ack(hq, bid, command_id, AckStage.FAILED, occ, reason="playback_error",
               detail="ALSA: device busy")  # one morning's sound card error; the node keeps the series
    [o] = await _occurrences(hq, bid)
    assert (o["state"], o["reason"]) == ("missed", "ALSA: device busy"), o
    d = (await hq.deliveries(bid))[NODE]
    assert d["state"] == "scheduled", d  # not failed: HQ would cancel the programme at the node's reconnect
    tomorrow = occ + timedelta(days=1)
    await _ack(hq, bid, command_id, AckStage.PLAYING, tomorrow)
    t = datetime.now(UTC)
    await _ack(hq, bid, command_id, AckStage.PLAYED, tomorrow, started_at=t, ended_at=t, duration_s=4.0)
    assert sorted(o["state"] for o in await _occurrences(hq, bid)) == ["missed", "played"]
