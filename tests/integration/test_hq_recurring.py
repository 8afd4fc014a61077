"""A recurring bulletin through HQ to a real edge agent: each occurrence is its own tracked play.

Real Mosquitto and a real EdgeAgent play today's occurrence; the next day's is the node's ``played`` ack for
the same command, sent as the node would (store-and-forward, ``historical``) — no one waits a day.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage
from tests.conftest import COMMUNE
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401
from tests.integration.speaker_helpers import FAST, in_s, local_hms

pytestmark = pytest.mark.integration


async def _occurrences(h: Hq, bid: str) -> dict:
    status, body = await h.call("GET", f"/api/v1/bulletins/{bid}/occurrences")
    assert status == 200, body
    return body


async def test_each_occurrence_of_a_recurring_bulletin_is_tracked(hq, start_agent, tap):  # noqa: F811
    await start_agent("a-1", zones=["thon-1"], **FAST)

    async def online() -> bool:
        _, body = await hq.call("GET", "/api/v1/nodes", role="technician")
        return any(n["id"] == "a-1" and n["state"] == "online" for n in body["nodes"])

    await wait_async(online, 20, "a-1 online")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Nhắc lịch tiêm phòng hằng ngày.", "targets": {"nodes": ["a-1"]},
        "recurrence": {"kind": "daily", "at": local_hms(in_s(3))}, "expires_at": in_s(9).isoformat()})
    assert status == 201, body
    bid = body["bulletin"]["id"]

    played: dict = {}

    async def first_played() -> bool:
        nonlocal played
        played = await _occurrences(hq, bid)
        return any(o["state"] == "played" for o in played["occurrences"])

    await wait_async(first_played, 30, "today's occurrence played")
    today = played["occurrences"][0]
    assert today["node"] == "a-1" and today["duration_s"] > 0
    d = await hq.deliveries(bid)
    assert d["a-1"]["state"] == "scheduled"  # more occurrences to come: not finished

    # tomorrow's occurrence (and a duplicate of it) as the node's store-and-forward delivers it
    start = in_s(86400)
    ack = Ack(node="a-1", command_id=d["a-1"]["command_id"], bulletin_id=bid, stage=AckStage.PLAYED,
              started_at=start, ended_at=start + timedelta(seconds=4), duration_s=4.0, historical=True,
              detail="occurrence tomorrow")
    for _ in range(2):
        await tap.publish(topics.node_ack(COMMUNE, "a-1"), codec.encode(ack))

    async def two_dates() -> bool:
        nonlocal played
        played = await _occurrences(hq, bid)
        return len(played["by_date"]) == 2

    await wait_async(two_dates, 20, "two occurrences")
    assert [v for _, v in sorted(played["by_date"].items())] == [{"played": 1}, {"played": 1}]

    final = await hq.wait_delivery(bid, "a-1", "played", timeout=30)  # at expiry, after the last occurrence
    assert final["reason"] == "recurrence ended: 2 occurrence(s) played"
    _, report = await hq.call("GET", "/api/v1/reports/broadcasts?group=node", role="technician")
    row = next(r for r in report["rows"] if r["node"] == "a-1")
    assert row["plays"] == 2 and row["bulletins"] == 1 and row["failures"] == 0
    _, report = await hq.call("GET", "/api/v1/reports/broadcasts?group=day", role="technician")
    assert sorted(r["day"] for r in report["rows"] if r["plays"]) == sorted(played["by_date"])
