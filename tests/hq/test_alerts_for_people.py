"""Alerts for people: the camera's configured (Vietnamese) name in plain-Vietnamese messages and webhook payloads,
the technical detail apart, acknowledgement with who/when/note, filters, and nothing posted before the alert row
is committed (real HQ app, real Mosquitto, a local webhook receiver)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from hq_server.services.alert_texts import camera_status_message, node_offline_message
from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import CameraHealth, CameraStatus, NodeState
from loaxa_link.mosquitto import free_port
from tests.conftest import COMMUNE, wait_until
from tests.hq.fixtures import wait_async

RTSP_DETAIL = "rtsp://192.168.1.20:554/stream1 answered b'', not RTSP/"


async def _receiver() -> tuple[web.AppRunner, str, list[dict]]:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook", received


def test_messages_are_plain_vietnamese_with_the_name():
    msg = camera_status_message("cong-truong", "Cổng trường", "ok", "offline", "Trường tiểu học")
    assert msg == "Camera “Cổng trường” (cong-truong), Trường tiểu học mất tín hiệu."
    assert "trở lại" in camera_status_message("cong-truong", "Cổng trường", "offline", "ok")
    assert "rtsp" not in msg and "→" not in msg
    since = datetime(2026, 11, 28, 1, 5, tzinfo=UTC)  # 08:05 in Hà Nội
    text = node_offline_message("cam-node-1", "camera", "UBND xã", since, since + timedelta(minutes=12),
                                ["camera “Cổng trường” (cong-truong)"])
    assert text.startswith("Trạm camera cam-node-1 (UBND xã) mất kết nối từ 08:05 ngày 28/11/2026 (12 phút).")
    assert "Cổng trường" in text


def test_detection_alerts_name_the_camera_too():
    from hq_server.services.detections import camera_label
    from hq_server.storage.tables import Camera

    cam = Camera(id="cong-truong", name="Cổng trường", location="Trường tiểu học")
    assert camera_label(cam, "cong-truong") == "“Cổng trường” (cong-truong), Trường tiểu học"
    assert camera_label(Camera(id="x", location="Chợ"), "x") == "Chợ (x)"


async def test_camera_alert_names_the_camera_and_keeps_the_detail_apart(start_hq):
    runner, url, received = await _receiver()
    hq = await start_hq(alerts={"webhook_url": url})
    try:
        t0 = datetime.now(UTC)
        for i, status in enumerate((CameraStatus.OK, CameraStatus.OFFLINE)):
            msg = CameraHealth(camera="cong-truong", node="cam-node-1", name="Cổng trường", status=status,
                               reachable=not i, since=t0 + timedelta(seconds=i), detail=RTSP_DETAIL if i else None)
            await hq.orch.handle(topics.camera_health(COMMUNE, "cam-node-1", "cong-truong"), codec.encode(msg))
        await wait_until(lambda: len(received) >= 1, 20, "webhook POST")
        payload = received[0]
        assert payload["message"] == "Camera “Cổng trường” (cong-truong) mất tín hiệu.", payload
        assert payload["detail"] == f"ok → offline: {RTSP_DETAIL}"
        assert payload["camera"]["name"] == "Cổng trường" and payload["camera"]["node"] == "cam-node-1"
        status, body = await hq.call("GET", "/api/v1/cameras/cong-truong", role="police")
        assert status == 200 and body["camera"]["name"] == "Cổng trường", body
        _, body = await hq.call("GET", "/api/v1/alerts", role="police")
        assert body["alerts"][0]["detail"] == payload["detail"] and body["alerts"][0]["context"]["camera"]["name"]
    finally:
        await runner.cleanup()


async def test_acknowledge_records_who_when_and_a_note_and_alerts_filter(start_hq):
    hq = await start_hq(alerts={"node_offline_after_s": 0})
    await hq.orch.handle(topics.node_state(COMMUNE, "loa-7"), codec.encode(NodeState(node="loa-7", state="online")))
    await hq.orch.handle(topics.node_state(COMMUNE, "loa-7"), codec.encode(NodeState(node="loa-7", state="offline")))
    await hq.orch.handle(topics.camera_health(COMMUNE, "cam-node-1", "cho-xa"), codec.encode(CameraHealth(
        camera="cho-xa", node="cam-node-1", name="Chợ xã", status=CameraStatus.COVERED, reachable=True,
        since=datetime.now(UTC))))

    async def two_alerts() -> bool:
        _, body = await hq.call("GET", "/api/v1/alerts", role="police")
        return len(body["alerts"]) == 2

    await wait_async(two_alerts, 20, "node offline and camera alerts")
    _, body = await hq.call("GET", "/api/v1/alerts?kind=node_offline", role="police")
    (offline,) = body["alerts"]
    assert "mất kết nối" in offline["message"] and offline["acknowledged"] is False

    before = datetime.now(UTC)
    status, body = await hq.call("POST", f"/api/v1/alerts/{offline['id']}/acknowledge", role="police",
                                 json={"note": "Đã gọi điện cho trưởng thôn, mất điện"})
    assert status == 200, body
    acked = body["alert"]
    assert acked["acknowledged_by"] == "police-1"
    assert acked["acknowledged_note"] == "Đã gọi điện cho trưởng thôn, mất điện"
    assert datetime.fromisoformat(acked["acknowledged_at"]) >= before - timedelta(seconds=1)
    status, body = await hq.call("POST", f"/api/v1/alerts/{offline['id']}/acknowledge", role="technician", json={})
    assert status == 409 and "police-1" in body["error"]

    _, body = await hq.call("GET", "/api/v1/alerts?state=open", role="police")
    assert [a["subject"] for a in body["alerts"]] == ["cho-xa"]
    _, body = await hq.call("GET", "/api/v1/alerts?state=acknowledged", role="police")
    assert [a["subject"] for a in body["alerts"]] == ["loa-7"]
    _, body = await hq.call("GET", "/api/v1/alerts?camera=cho-xa&state=open", role="police")
    assert [a["context"]["camera"]["name"] for a in body["alerts"]] == ["Chợ xã"]
    status, bad = await hq.call("GET", "/api/v1/alerts?state=closed", role="police")
    assert status == 400 and "state" in bad["fields"]
    camera_alert = body["alerts"][0]["id"]
    status, body = await hq.call("POST", f"/api/v1/alerts/{camera_alert}/acknowledge", role="police")  # no body
    assert status == 200 and body["alert"]["acknowledged_note"] is None, body


async def test_an_alert_reaches_the_webhook_only_after_its_row_is_committed(start_hq):
    runner, url, received = await _receiver()
    hq = await start_hq(alerts={"webhook_url": url})
    alerter = hq.orch.alerter
    try:
        async with hq.app[DB].sessions() as s:
            await alerter.raise_alert(s, "test", "rolled-back", "Cảnh báo sẽ bị huỷ")
            await s.rollback()
        async with hq.app[DB].sessions() as s:
            kept = await alerter.raise_alert(s, "test", "kept", "Cảnh báo được lưu")
            await s.commit()
        await wait_until(lambda: any(p["subject"] == "kept" for p in received), 20, "the committed alert posted")
        assert [p["subject"] for p in received] == ["kept"] and received[0]["id"] == kept.id
    finally:
        await runner.cleanup()
