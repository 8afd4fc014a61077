"""Detection end to end: simulated streams (a person crossing, light changes) → camera node (OpenCV motion +
HOG) → authenticated Mosquitto with the commune ACL → HQ (event stored, picture fetched with a one-time
token, police alert by rule) → the police post's API. Identity comes from the topic, never the payload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hq_server.app import create_app
from hq_server.services.users import create_user
from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import DetectionEvent
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto, free_port
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, REPO, require_binary
from tests.hq.fixtures import PASSWORD, ROLES, Hq, hq_config, wait_async

pytestmark = pytest.mark.integration

ROAD = [[0.0, 0.7], [1.0, 0.7], [1.0, 1.0], [0.0, 1.0]]
PRIVACY = [[0.8, 0.05], [0.98, 0.05], [0.98, 0.4], [0.8, 0.4]]
USERS = {"cam-node-1": "pw-cam-1", "cam-node-2": "pw-cam-2"}
RULE = {"name": "cong-truong-dem", "cameras": ["cong-truong"], "kinds": ["person"], "min_interval_s": 600}


@pytest.fixture
def acl_broker(tmp_path) -> Iterator[Mosquitto]:
    require_binary("mosquitto")
    store = CredentialStore(tmp_path / "acl-credentials", COMMUNE)
    for node, password in USERS.items():
        store.add_node(node, password=password)
    m = Mosquitto(tmp_path / "acl-broker", store).start()
    yield m
    m.stop()


@pytest.fixture
async def acl_hq(tmp_path, hq_keys, acl_broker: Mosquitto) -> AsyncIterator[Hq]:
    port = free_port()
    cfg = hq_config(tmp_path, hq_keys[0], acl_broker.port, None, port,
                    acl_broker.credentials.hq_login(), detections={"rules": [RULE]})
    app = create_app(cfg)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    hq = Hq(client, app, {})
    async with app[DB].sessions() as s:
        for role in ROLES:
            hq.tokens[role] = await create_user(s, f"{role}-1", PASSWORD, role, with_token=True) or ""
    await hq.orch.wait_ready(15)
    yield hq
    await client.close()


@pytest.fixture
def watch_cams() -> Iterator[dict[str, dict[str, Any]]]:
    """Two simulated MJPEG cameras, 640x360, scene 'watch' (only the road's traffic moves)."""
    proc = subprocess.Popen([sys.executable, "-m", "simulators.camera.cli", "--mjpeg", "2", "--width", "640",
                             "--height", "360", "--fps", "10", "--scene", "watch", "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "camera simulator did not start"
        yield {c["id"]: c for c in json.loads(line)["cameras"]}
    finally:
        proc.terminate()
        proc.wait(10)


def action(cam: dict[str, Any], name: str, seconds: float) -> None:
    req = urllib.request.Request(f"{cam['action']}?action={name}&seconds={seconds}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def privacy_inside(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img[round(0.05 * h) + 8: round(0.4 * h) - 8, round(0.8 * w) + 8: round(0.98 * w) - 8]


def camera(ident: str, url: str) -> dict[str, Any]:
    return {"id": ident, "url": url, "sample_interval_s": 10, "privacy_masks": [PRIVACY],
            "detection": {"events": ["person", "motion"], "masks": [ROAD], "sample_interval_s": 1.5}}


async def test_person_crossing_one_event_picture_and_police_alert(acl_hq: Hq, acl_broker: Mosquitto, watch_cams,
                                                                  make_node_config, tmp_path) -> None:
    from edge_agent.app import EdgeAgent

    hq = acl_hq
    (_, a), (_, b) = sorted(watch_cams.items())
    pw = tmp_path / "pw-cam-1"
    pw.write_text(USERS["cam-node-1"] + "\n")
    cfg = make_node_config("cam-node-1", [], port=acl_broker.port, broker__username="cam-node-1",
                           broker__password_file=str(pw), node__kind="camera",
                           cameras=[camera("cong-truong", a["url"]), camera("cho-xa", b["url"])])
    agent = EdgeAgent(cfg)
    await agent.start()
    try:
        await agent.link.wait_ready(15)

        async def node_and_camera_known() -> bool:
            _, nodes = await hq.call("GET", "/api/v1/nodes")
            _, cams = await hq.call("GET", "/api/v1/cameras")
            return any(n["id"] == "cam-node-1" for n in nodes["nodes"]) and any(
                c["id"] == "cong-truong" for c in cams["cameras"])

        # (the technician registers a camera the node has already reported, as in the field)
        await wait_async(node_and_camera_known, 30, "HQ knows the camera node and its camera")
        status, body = await hq.call("PUT", "/api/v1/cameras/cong-truong", json={
            "node": "cam-node-1", "location": "Cổng trường THCS"})
        assert status in (200, 201), body
        assert agent.cameras is not None
        workers = agent.cameras.workers
        await wait_async(_true(lambda: all(w.samples >= 4 for w in workers.values())), 60, "four samples each")

        await asyncio.to_thread(action, a, "person", 8.0)
        await asyncio.to_thread(action, b, "lights", 16.0)

        async def detections(**query: str) -> list[dict[str, Any]]:
            status, body = await hq.call("GET", "/api/v1/detections?" + "&".join(f"{k}={v}" for k, v in
                                                                               query.items()), role="police")
            assert status == 200, body
            return body["detections"]

        async def person_with_picture() -> bool:
            rows = await detections(camera="cong-truong", kind="person")
            return bool(rows) and rows[0]["picture"] == "uploaded"

        await wait_async(person_with_picture, 60, "a person event with its picture at HQ")
        await asyncio.sleep(0)
        done = {c: w.samples for c, w in workers.items()}
        await wait_async(_true(lambda: all(w.samples >= done[c] + 12 for c, w in workers.items())), 90,
                         "the crossing and the light changes to end (12 more samples)")

        person = await detections(camera="cong-truong", kind="person")
        assert len(person) == 1, person
        assert await detections(camera="cho-xa") == []
        event = person[0]
        assert event["node"] == "cam-node-1" and event["score"] >= 0.5 and event["boxes"]
        assert event["alert_rule"] == RULE["name"] and event["alert_id"]

        status, body = await hq.call("GET", "/api/v1/alerts", role="police")
        alerts = [al for al in body["alerts"] if al["kind"] == "camera_detection"]
        assert len(alerts) == 1, alerts  # motion events match no rule; lights raised nothing
        assert alerts[0]["id"] == event["alert_id"]
        assert alerts[0]["message"].startswith("Phát hiện người tại camera Cổng trường THCS (cong-truong) lúc ")

        async with hq.client.get(event["picture_url"], headers=hq.headers("police")) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            jpeg = await resp.read()
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (360, 640, 3)
        assert privacy_inside(picture).max() <= 16  # privacy-masked pixels never leave the node
        assert picture.mean() > 60
        x0, y0 = round(event["boxes"][0]["x"] * 640), round(event["boxes"][0]["y"] * 360)
        assert picture[y0: y0 + 3, x0 + 10: x0 + 30, 2].mean() > 150  # the red box is drawn

        status, _ = await hq.call("GET", "/api/v1/detections", role="technician")
        assert status == 403  # pictures of people: the police post only
        status, _ = await hq.call("GET", f"/api/v1/detections/{event['id']}/picture", role=None)
        assert status == 401
    finally:
        await agent.stop()

    # another node cannot report for this camera, and a payload cannot claim another camera
    stored = len(await detections())
    before = hq.orch.processed
    spoof = MqttLink(LinkConfig(host="127.0.0.1", port=acl_broker.port, client_id="spoof", username="cam-node-2",
                                password=USERS["cam-node-2"]))
    await spoof.start()
    try:
        await spoof.wait_ready(15)
        fake = DetectionEvent(id="fake-1", camera="cong-truong", kind="person", at=event_time(event), score=3.0)
        await spoof.publish(topics.camera_event(COMMUNE, "cam-node-2", "cong-truong"), codec.encode(fake))
        other = fake.model_copy(update={"id": "fake-2", "camera": "cho-xa"})
        await spoof.publish(topics.camera_event(COMMUNE, "cam-node-2", "cong-truong"), codec.encode(other))
        await wait_async(_true(lambda: hq.orch.processed >= before + 2), 20, "HQ to handle both")
    finally:
        await spoof.stop()
    assert len(await detections()) == stored
    assert all(d["node"] == "cam-node-1" for d in await detections())


def event_time(event: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(event["at"])


def _true(pred: Any) -> Any:
    async def check() -> bool:
        return bool(pred())

    return check
