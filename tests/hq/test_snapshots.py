"""Camera snapshots: signed MQTT command to the camera's node (real Mosquitto), JPEG upload over real HTTP
with the edge's own uploader (``edge_agent.camera.snapshot.upload_snapshot``), one-time tokens, latest picture.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import update

from edge_agent.camera.snapshot import UploadError, upload_snapshot
from hq_server.storage.tables import Snapshot, now
from hq_server.web import DB
from loaxa_contract import codec, signing, topics
from loaxa_contract.models import Ack, AckStage, SnapshotCommand
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, node_link_config, wait_until
from tests.hq.fixtures import wait_async

NODE, CAMERA = "cam-node-1", "cong-truong"


def _jpeg(seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


class FakeNodeInbox:
    """Subscribes to the node's command topic exactly as a camera node does; keeps what arrives."""

    def __init__(self, config: LinkConfig, node: str) -> None:
        self.received: list[dict] = []
        config.session_expiry_s = 0
        config.subscriptions = topics.node_command_filters(COMMUNE, node, [])
        self.link = MqttLink(config, on_message=lambda _t, payload: self.received.append(json.loads(payload)))

    async def command(self, command_id: str) -> dict:
        await wait_until(lambda: any(c["id"] == command_id for c in self.received), 20, f"command {command_id}")
        return next(c for c in self.received if c["id"] == command_id)


@pytest.fixture
async def node_inbox(broker, node_logins):
    inbox = FakeNodeInbox(node_link_config(broker, node_logins, NODE), NODE)
    await inbox.link.start()
    await inbox.link.wait_ready(10)
    yield inbox
    await inbox.link.stop()


async def _request(hq, role: str = "police") -> dict:
    status, body = await hq.call("POST", f"/api/v1/cameras/{CAMERA}/snapshot", role=role)
    assert status == 202, body
    return body


async def _register(hq, **camera: str) -> tuple[int, dict]:
    """The camera's node first (a camera may only point at a node HQ knows), then the camera."""
    await hq.add_zones("thon-1")
    status, body = await hq.call("PUT", f"/api/v1/nodes/{NODE}", role="technician",
                                 json={"kind": "camera", "zones": ["thon-1"]})
    assert status in (200, 201), body
    return await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician", json={"node": NODE, **camera})


async def test_camera_must_point_at_a_known_node_and_zone(hq):
    status, body = await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician", json={"node": NODE})
    assert status == 400 and "node" in body["fields"], body  # not registered yet
    status, body = await _register(hq, zone="thon-9")
    assert status == 400 and set(body["fields"]) == {"zone"} and "thon-1" in body["fields"]["zone"], body
    status, body = await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician",
                                 json={"node": "Cam Node 1", "zone": "thon-1"})
    assert status == 400 and set(body["fields"]) == {"node"}, body
    status, body = await _register(hq, zone="thon-1")
    assert status == 201 and body["camera"]["node"] == NODE and body["camera"]["zone"] == "thon-1", body
    assert (await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician", json={"node": ""}))[0] == 200


async def test_snapshot_request_signed_command_upload_and_latest(hq, node_inbox, hq_keys):
    status, body = await _register(hq)
    assert status == 201, body
    assert (await hq.call("GET", f"/api/v1/cameras/{CAMERA}/snapshot/latest", role="police"))[0] == 404

    req = await _request(hq)
    wire = await node_inbox.command(req["request_id"])
    signing.verify(wire, signing.load_public_key(hq_keys[1]))  # what the node's gate checks
    cmd = codec.validate_command(wire)
    assert isinstance(cmd, SnapshotCommand) and cmd.camera == CAMERA and cmd.target == f"node:{NODE}"
    base = str(hq.client.make_url("/api/v1/snapshots/upload/"))
    assert cmd.upload_url and cmd.upload_url.startswith(base) and len(cmd.upload_url) > len(base) + 30
    assert (cmd.expires_at - cmd.ts) <= timedelta(seconds=121)

    jpeg = _jpeg()
    assert await upload_snapshot(cmd.upload_url, jpeg, camera=CAMERA, node=NODE) == 201
    with pytest.raises(UploadError, match="HTTP 401"):  # single use
        await upload_snapshot(cmd.upload_url, _jpeg(1), camera=CAMERA, node=NODE)

    async with hq.client.get(f"/api/v1/cameras/{CAMERA}/snapshot/latest", headers=hq.headers("police")) as r:
        assert r.status == 200 and r.content_type == "image/jpeg"
        assert await r.read() == jpeg and r.headers["X-LoaXa-Snapshot"] == req["request_id"]
    status, body = await hq.call("GET", f"/api/v1/snapshots/{req['request_id']}", role="technician")
    assert body["snapshot"]["state"] == "uploaded" and body["snapshot"]["size"] == len(jpeg)

    # a newer picture replaces it as "latest"
    req2 = await _request(hq, role="technician")
    jpeg2 = _jpeg(2)
    cmd2 = codec.validate_command(await node_inbox.command(req2["request_id"]))
    assert isinstance(cmd2, SnapshotCommand) and cmd2.upload_url
    await upload_snapshot(cmd2.upload_url, jpeg2, camera=CAMERA, node=NODE)
    async with hq.client.get(f"/api/v1/cameras/{CAMERA}/snapshot/latest", headers=hq.headers("admin")) as r:
        assert await r.read() == jpeg2

    # the token never reaches the audit log
    _, audit = await hq.call("GET", "/api/v1/audit?limit=50")
    token = cmd.upload_url.rsplit("/", 1)[1]
    assert token not in json.dumps(audit)
    uploads = [e for e in audit["audit"] if e["target"].startswith("/api/v1/snapshots/upload/")]
    assert {e["status"] for e in uploads} == {201, 401}
    assert any(e["action"].startswith("Ask the camera") and e["user"] == "police-1" for e in audit["audit"])


async def test_upload_refusals_are_clear_and_do_not_burn_the_token(hq, node_inbox):
    await _register(hq)
    req = await _request(hq)
    cmd = codec.validate_command(await node_inbox.command(req["request_id"]))
    assert isinstance(cmd, SnapshotCommand) and cmd.upload_url
    path = cmd.upload_url.removeprefix(str(hq.client.make_url("")).rstrip("/"))

    async def post(data: Any, content_type: str = "image/jpeg", **headers: str) -> tuple[int, dict]:
        async with hq.client.post(path, data=data, headers={"Content-Type": content_type, **headers}) as r:
            return r.status, await r.json()

    status, body = await post(b"GIF89a not a jpeg")
    assert status == 400 and "JPEG" in body["error"] and "body" in body["fields"]
    status, body = await post(_jpeg(), content_type="image/png")
    assert status == 400 and "Content-Type" in body["fields"]
    status, body = await post(_jpeg(), **{"X-LoaXa-Camera": "other-cam"})
    assert status == 400 and "X-LoaXa-Camera" in body["fields"]
    status, body = await post(b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024))
    assert status == 413 and "5242880" in body["error"]

    async def chunked(data: bytes) -> AsyncIterator[bytes]:  # no Content-Length: the cap holds while reading
        for i in range(0, len(data), 256 * 1024):
            yield data[i:i + 256 * 1024]

    status, body = await post(chunked(b"\xff\xd8\xff" + b"\0" * (6 << 20)))
    assert status == 413 and "body" in body["fields"], body
    jpeg = _jpeg()
    status, body = await post(jpeg[: len(jpeg) // 2])  # cut short: no end-of-image marker
    assert status == 400 and "cut short" in body["error"], body
    status, body = await post(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9")  # magic bytes, no image
    assert status == 400 and "JPEG" in body["error"], body
    with pytest.raises(UploadError, match="HTTP 400"):
        await upload_snapshot(cmd.upload_url, b"not a jpeg", camera=CAMERA, node=NODE)
    # none of the refusals used the token up
    assert await upload_snapshot(cmd.upload_url, _jpeg(), camera=CAMERA, node=NODE) == 201

    status, body = await post(_jpeg())
    assert status == 401 and "already used" in body["error"]
    async with hq.client.post("/api/v1/snapshots/upload/forged-token", data=_jpeg(),
                              headers={"Content-Type": "image/jpeg"}) as r:
        assert r.status == 401 and "unknown" in (await r.json())["error"]

    # expired: the node answers too late
    req = await _request(hq)
    cmd = codec.validate_command(await node_inbox.command(req["request_id"]))
    assert isinstance(cmd, SnapshotCommand) and cmd.upload_url
    async with hq.app[DB].sessions() as s:
        await s.execute(update(Snapshot).where(Snapshot.id == req["request_id"])
                        .values(token_expires_at=now() - timedelta(seconds=1)))
        await s.commit()
    with pytest.raises(UploadError, match="HTTP 401"):
        await upload_snapshot(cmd.upload_url, _jpeg(), camera=CAMERA, node=NODE)
    _, body = await hq.call("GET", f"/api/v1/snapshots/{req['request_id']}", role="police")
    assert body["snapshot"]["state"] == "expired"


async def test_request_errors_roles_and_node_failure_ack(hq, node_inbox, broker):
    assert (await hq.call("POST", f"/api/v1/cameras/{CAMERA}/snapshot", role="broadcaster"))[0] == 403
    status, body = await hq.call("POST", "/api/v1/cameras/nope/snapshot", role="police")
    assert status == 404, body
    await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician", json={"node": ""})
    status, body = await hq.call("POST", f"/api/v1/cameras/{CAMERA}/snapshot", role="police")
    assert status == 409 and "node" in body["fields"]

    await _register(hq)
    req = await _request(hq)
    await node_inbox.command(req["request_id"])
    ack = Ack(node=NODE, command_id=req["request_id"], stage=AckStage.FAILED, reason="camera_offline",
              detail="no frame within 8 s")
    await node_inbox.link.publish(topics.node_ack(COMMUNE, NODE), codec.encode(ack))

    snap: dict = {}

    async def failed() -> bool:
        nonlocal snap
        _, body = await hq.call("GET", f"/api/v1/snapshots/{req['request_id']}", role="police")
        snap = body["snapshot"]
        return snap["state"] == "failed"

    await wait_async(failed, 20, "failed snapshot")
    assert "camera_offline" in snap["reason"]


async def test_registration_racing_the_first_health_report_is_a_clean_update(hq, monkeypatch):
    """A node's first camera health inserts the camera row on its own; when that insert lands between the
    registration's read and its commit, the technician still gets a clean answer (never a 500)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from hq_server.services import fleet
    from hq_server.storage.tables import Camera
    from loaxa_contract.models import CameraHealth, CameraStatus

    await hq.add_zones("thon-1")
    status, body = await hq.call("PUT", f"/api/v1/nodes/{NODE}", role="technician",
                                 json={"kind": "camera", "zones": ["thon-1"]})
    assert status in (200, 201), body
    commit = AsyncSession.commit
    raced = []

    async def health_lands_first(session: AsyncSession) -> None:
        if not raced and any(isinstance(o, Camera) for o in session.new):  # the registration's insert
            raced.append(True)  # the orchestrator's own session commits the node's first report right now
            async with hq.app[DB].sessions() as other:
                report = CameraHealth(camera=CAMERA, node=NODE, status=CameraStatus.OK, since=now(), reachable=True)
                await fleet.apply_camera_health(other, report, hq.orch.alerter)
                await commit(other)
        await commit(session)

    monkeypatch.setattr(AsyncSession, "commit", health_lands_first)
    status, body = await hq.call("PUT", f"/api/v1/cameras/{CAMERA}", role="technician",
                                 json={"node": NODE, "zone": "thon-1", "location": "Cổng trường"})
    assert raced and status == 200, body
    cam = body["camera"]
    assert (cam["node"], cam["zone"], cam["location"]) == (NODE, "thon-1", "Cổng trường"), cam
    _, body = await hq.call("GET", f"/api/v1/cameras/{CAMERA}", role="police")
    assert body["camera"]["registered"] and body["camera"]["health"]["status"] == "ok", body


async def test_first_health_racing_the_registration_is_recorded(hq, monkeypatch):
    """The other order: the technician's registration commits after the first report found no camera and
    before the report's insert reaches the database. The report is applied to the registered camera, not
    lost with an IntegrityError."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from hq_server.storage.tables import Camera, Node
    from loaxa_contract.models import CameraHealth, CameraStatus

    await hq.add_zones("thon-1")
    status, body = await hq.call("PUT", f"/api/v1/nodes/{NODE}", role="technician",
                                 json={"kind": "camera", "zones": ["thon-1"]})
    assert status in (200, 201), body
    get = AsyncSession.get
    raced = []

    async def registration_lands_first(session: AsyncSession, entity, ident, **kw):
        # the report has added its unregistered camera and now reads the node (which flushes the insert)
        if entity is Node and not raced and any(isinstance(o, Camera) for o in session.new):
            raced.append(True)
            async with hq.app[DB].sessions() as other:
                other.add(Camera(id=CAMERA, node_id=NODE, zone="thon-1", location="Cổng trường", registered=True,
                                 status="unknown", status_since=now()))
                await other.commit()
        return await get(session, entity, ident, **kw)

    monkeypatch.setattr(AsyncSession, "get", registration_lands_first)
    report = CameraHealth(camera=CAMERA, node=NODE, status=CameraStatus.OK, since=now(), reachable=True)
    await hq.orch.handle(topics.camera_health(COMMUNE, NODE, CAMERA), codec.encode(report))
    assert raced
    _, body = await hq.call("GET", f"/api/v1/cameras/{CAMERA}", role="police")
    cam = body["camera"]
    assert cam["registered"] and cam["location"] == "Cổng trường" and cam["health"]["status"] == "ok", cam
