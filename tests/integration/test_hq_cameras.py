"""The police post's view, end to end: simulated camera streams → camera node (OpenCV) → MQTT → HQ
registry, history and alerts → a snapshot requested through HQ's API, uploaded by the node, served by HQ."""

from __future__ import annotations

import pytest

from tests.conftest import camera_fault
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401

pytestmark = pytest.mark.integration

FAST = {"sample_interval_s": 1.0, "confirm_interval_s": 0.5, "open_timeout_s": 2.0, "read_timeout_s": 2.0}


async def test_police_see_camera_status_alerts_and_snapshot(hq: Hq, camera_sim, start_agent):  # noqa: F811
    (_, a), (_, b) = sorted(camera_sim.items())
    await start_agent("cam-node-1", node__kind="camera", cameras=[
        {"id": "cong-truong", "url": a["url"], **FAST}, {"id": "cho-xa", "name": "Chợ xã", "url": b["url"], **FAST}])

    async def statuses() -> dict[str, str]:
        status, body = await hq.call("GET", "/api/v1/cameras", role="police")
        assert status == 200, body
        return {c["id"]: c["status"] for c in body["cameras"]}

    async def both_ok() -> bool:
        return await statuses() == {"cong-truong": "ok", "cho-xa": "ok"}

    await wait_async(both_ok, 60, "HQ sees both cameras ok")

    camera_fault(b, "disconnect")

    async def cho_offline() -> bool:
        return (await statuses()).get("cho-xa") == "offline"

    await wait_async(cho_offline, 40, "HQ sees cho-xa offline")
    status, body = await hq.call("GET", "/api/v1/alerts", role="police")
    assert status == 200
    alert = next(al for al in body["alerts"] if al["subject"] == "cho-xa")
    assert alert["message"] == "Camera “Chợ xã” (cho-xa) mất tín hiệu.", alert  # the name set on the node
    assert alert["detail"].startswith("ok → offline")

    status, body = await hq.call("POST", "/api/v1/cameras/cong-truong/snapshot", role="police")
    assert status == 202, body
    request_id = body["request_id"]
    assert body["node"] == "cam-node-1" and body["state"] == "requested"

    async def uploaded() -> bool:
        _, state = await hq.call("GET", f"/api/v1/snapshots/{request_id}", role="police")
        return state["snapshot"]["state"] == "uploaded"

    await wait_async(uploaded, 30, "snapshot uploaded by the node")
    async with hq.client.get("/api/v1/cameras/cong-truong/snapshot/latest", headers=hq.headers("police")) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        jpeg = await resp.read()
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) > 1000

    status, _ = await hq.call("POST", "/api/v1/bulletins", role="police", json={"text": "x", "targets": {"all": True}})
    assert status == 403  # the police post watches cameras; it does not broadcast
