"""API routes of the police post's pages: acknowledge with a note, the camera wall and alert streams, scope."""

from __future__ import annotations

import json

from hq_server.storage.tables import Alert, Camera, Node, now
from hq_server.web import DB
from tests.hq.fixtures import Hq


async def first_event(hq: Hq, path: str, role: str) -> tuple[str, dict]:
    async with hq.client.get(path, headers=hq.headers(role)) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        name = (await resp.content.readline()).decode().strip().removeprefix("event: ")
        return name, json.loads((await resp.content.readline()).decode().removeprefix("data: "))


async def test_acknowledge_with_a_note_once(hq: Hq) -> None:
    async with hq.app[DB].sessions() as s:
        s.add(Alert(kind="camera_status", subject="cho-xa", message="Camera cho-xa: ok → offline", severity="critical"))
        await s.commit()
    _, body = await hq.call("GET", "/api/v1/alerts", role="police")
    alert_id = body["alerts"][0]["id"]
    status, bad = await hq.call("POST", f"/api/v1/alerts/{alert_id}/acknowledge", role="police",
                                json={"note": "x" * 501})
    assert status == 400 and "note" in bad["fields"]
    status, ok = await hq.call("POST", f"/api/v1/alerts/{alert_id}/acknowledge", role="police",
                               json={"note": "  Đã cử người   kiểm tra. "})
    assert status == 200 and ok["acknowledged_note"] == "Đã cử người kiểm tra." and ok["acknowledged_at"]
    status, again = await hq.call("POST", f"/api/v1/alerts/{alert_id}/acknowledge", role="technician")
    assert status == 409 and "police-1" in again["error"]
    _, body = await hq.call("GET", "/api/v1/alerts", role="police")
    a = body["alerts"][0]
    assert (a["acknowledged_by"], a["acknowledged_note"]) == ("police-1", "Đã cử người kiểm tra.")
    _, audit = await hq.call("GET", "/api/v1/audit?limit=5", role="admin")
    done = [e for e in audit["audit"] if e["target"].endswith("/acknowledge") and e["status"] == 200]
    assert done[0]["user"] == "police-1" and done[0]["detail"]["note"] == "Đã cử người kiểm tra."


async def test_wall_and_alert_streams_in_the_police_scope(hq: Hq) -> None:
    async with hq.app[DB].sessions() as s:
        s.add_all([Node(id="cam-node", kind="camera", state="offline", state_since=now()),
                   Node(id="loa-1", state="offline", state_since=now()),
                   Camera(id="cong-truong", node_id="cam-node", location="Cổng trường", status="ok",
                          status_since=now()),
                   Camera(id="cho-xa", node_id="", location="Chợ xã", status="frozen", status_since=now())])
        s.add_all([Alert(kind="node_offline", subject="loa-1", message="Node loa-1 offline for 6.0 min (since x)"),
                   Alert(kind="node_offline", subject="cam-node", message="Node cam-node offline for 6.0 min (x)")])
        await s.commit()
    name, wall = await first_event(hq, "/api/v1/events/cameras", "police")
    assert name == "cameras" and [c["id"] for c in wall["cameras"]] == ["cong-truong", "cho-xa"]
    assert wall["cameras"][0]["state"] == "node_offline" and wall["cameras"][1]["state_text"] == "Hình bị đứng"
    name, head = await first_event(hq, "/api/v1/events/alerts", "police")
    assert name == "alerts" and head["open"] == 1  # the police post sees its camera node, not the loudspeaker
    assert head["latest"][0]["text"] == "Máy trạm cam-node đã mất kết nối 6 phút"
    _, tech = await first_event(hq, "/api/v1/events/alerts", "technician")
    assert tech["open"] == 2
    status, _ = await hq.call("GET", "/api/v1/events/cameras", role="broadcaster")
    assert status == 403
