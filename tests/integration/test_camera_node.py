"""A camera node end to end: real simulator streams → real OpenCV monitor in the edge agent →
retained ``node/{node}/camera/{id}/health`` on a real Mosquitto; a signed ``snapshot`` command → JPEG upload."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from loaxa_contract import codec, topics
from loaxa_contract.models import AckStage, CameraHealth, CameraStatus
from loaxa_link.mosquitto import free_port
from loaxa_link.mqtt import MqttLink
from tests.conftest import COMMUNE, camera_fault, hq_link_config, wait_until

pytestmark = pytest.mark.integration


async def test_camera_health_is_published_and_snapshot_uploaded(camera_sim, start_agent, tap, signer, broker):
    (_, a), (_, b) = sorted(camera_sim.items())
    fast = {"sample_interval_s": 1.0, "confirm_interval_s": 0.5, "open_timeout_s": 2.0, "read_timeout_s": 2.0}
    cameras = [{"id": "cong-truong", "url": a["url"], **fast}, {"id": "cho-xa", "url": b["url"], **fast}]
    seen: dict[str, list[CameraHealth]] = {"cong-truong": [], "cho-xa": []}
    watcher = MqttLink(hq_link_config(broker, "police-post",
                                      subscriptions=[topics.filter_for(topics.TopicKind.CAMERA_HEALTH, COMMUNE)]),
                       on_message=lambda t, p: seen[topics.parse(t).ids["camera"]].append(
                           codec.decode_model(p, CameraHealth)))
    uploads: list[tuple[str, bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        uploads.append((request.headers["X-LoaXa-Camera"], await request.read()))
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/upload/{token}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await watcher.start()
    try:
        await start_agent("cam-node-1", cameras=cameras, node__kind="camera")
        await wait_until(lambda: all(s and s[-1].status == CameraStatus.OK for s in seen.values()), 60,
                         "both cameras ok")
        assert seen["cong-truong"][-1].width == 320 and seen["cong-truong"][-1].node == "cam-node-1"

        camera_fault(b, "disconnect")
        await wait_until(lambda: seen["cho-xa"][-1].status == CameraStatus.OFFLINE, 30, "cho-xa offline")
        assert seen["cong-truong"][-1].status == CameraStatus.OK

        cmd = signer.build("snapshot", target="node:cam-node-1", ttl_s=60, camera="cong-truong",
                           upload_url=f"http://127.0.0.1:{port}/upload/one-time-token")
        await tap.publish(topics.node_cmd(COMMUNE, "cam-node-1"), json.dumps(cmd).encode())
        done = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)
        assert "uploaded" in (done.detail or "")
        assert uploads and uploads[0][0] == "cong-truong" and uploads[0][1][:3] == b"\xff\xd8\xff"  # JPEG

        bad = signer.build("snapshot", target="node:cam-node-1", ttl_s=60, camera="khong-co",
                           upload_url=f"http://127.0.0.1:{port}/upload/x")
        await tap.publish(topics.node_cmd(COMMUNE, "cam-node-1"), json.dumps(bad).encode())
        failed = await tap.wait_stage(bad["id"], AckStage.FAILED, timeout=30)
        assert failed.reason == "unknown_camera"

        camera_fault(b, "none")
        await wait_until(lambda: seen["cho-xa"][-1].status == CameraStatus.OK, 60, "cho-xa recovered")
    finally:
        await watcher.stop()
        await runner.cleanup()
