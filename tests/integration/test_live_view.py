"""Camera live view end to end: simulated MJPEG camera → camera node (OpenCV, own stream session) → one-time
upload URL at HQ → browsers' multipart stream. Low resolution and rate, frames that change, joined by a second
viewer, stopped by a user (the node stops within a frame), ending by itself at the time limit; the camera's
password never appears in anything HQ serves."""

from __future__ import annotations

import asyncio
import itertools
import time

import cv2
import numpy as np
import pytest

from loaxa_contract.models import AckStage
from tests.hq.fixtures import Hq, start_hq, wait_async  # noqa: F401

pytestmark = pytest.mark.integration

FAST = {"sample_interval_s": 1.0, "confirm_interval_s": 0.5, "open_timeout_s": 2.0, "read_timeout_s": 2.0}
SECRET = "mat-khau-camera-9731"


async def read_frames(hq: Hq, url: str, count: int, timeout: float = 30.0) -> list[bytes]:
    """``count`` JPEG parts from a multipart/x-mixed-replace stream, as a browser's <img> receives them."""
    frames: list[bytes] = []
    async with hq.client.get(url, headers=hq.headers("police")) as resp:
        assert resp.status == 200 and resp.content_type == "multipart/x-mixed-replace", resp.content_type
        async with asyncio.timeout(timeout):
            while len(frames) < count:
                line = await resp.content.readline()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    size = int(line.split(b":")[1])
                    await resp.content.readline()  # blank line after the part's headers
                    frames.append(await resp.content.readexactly(size))
    return frames


async def camera_node(hq: Hq, camera_sim, start_agent):
    (_, cam), *_ = sorted(camera_sim.items())
    agent = await start_agent("cam-node-1", node__kind="camera", cameras=[
        {"id": "cong-truong", "name": "Cổng trường", "url": cam["url"], "username": "admin", "password": SECRET,
         **FAST}])

    async def ok() -> bool:
        _, body = await hq.call("GET", "/api/v1/cameras", role="police")
        return any(c["id"] == "cong-truong" and c["status"] == "ok" for c in body["cameras"])

    await wait_async(ok, 60, "the camera ok at HQ")
    return agent


async def test_live_view_relays_changing_low_rate_frames_and_ends(start_hq, camera_sim, start_agent, tap) -> None:  # noqa: F811
    hq = await start_hq(live_view={"max_s": 12, "idle_s": 30, "width": 240, "fps": 4})
    await camera_node(hq, camera_sim, start_agent)

    status, body = await hq.call("POST", "/api/v1/cameras/cong-truong/live", role="police")
    assert status == 201, body
    live = body["live"]
    assert live["width"] == 240 and live["fps"] == 4 and 0 < live["ends_in_s"] <= 12
    status, again = await hq.call("POST", "/api/v1/cameras/cong-truong/live", role="technician")
    assert status == 200 and again["joined"] and again["live"]["id"] == live["id"]  # one view per camera

    started = time.monotonic()
    frames = await read_frames(hq, live["stream_url"], 6)
    elapsed = time.monotonic() - started
    assert len(frames) == 6
    pictures = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    assert all(p is not None and p.shape[1] == 240 for p in pictures)  # shrunk on the node to the 4G width
    assert len({f for f in frames}) == 6  # every frame is new: the picture is live, not a still
    diffs = [float(np.mean(cv2.absdiff(a, b))) for a, b in itertools.pairwise(pictures)]
    assert max(diffs) > 0.5, diffs  # and the scene moves
    rate = sum(len(f) for f in frames) / max(elapsed, 0.1)
    print(f"live view: {len(frames)} frames of ≈{sum(map(len, frames)) // len(frames)} bytes, "
          f"{rate / 1024:.1f} KiB/s ({rate * 8 / 1000:.0f} kbit/s) at 240 px, 4 fps")

    _, state = await hq.call("GET", live["status_url"], role="police")
    assert state["live"]["state"] == "streaming" and state["live"]["frames"] >= 6
    for text in (str(body), str(state)):
        assert SECRET not in text and "admin:" not in text  # the camera's credentials stay on the node

    # a user stops it: HQ answers the node's next frame 410 and the node says it stopped
    status, stopped = await hq.call("POST", f"/api/v1/live/{live['id']}/stop", role="police")
    assert status == 200 and stopped["live"]["ended"] == "stopped"
    ack = await tap.wait_stage(live["command_id"], AckStage.PLAYED, timeout=20)
    assert "stopped_by_hq" in (ack.detail or "")
    status, _ = await hq.call("GET", live["stream_url"], role="police")
    assert status == 410

    # a new view ends by itself at the time limit
    _, body = await hq.call("POST", "/api/v1/cameras/cong-truong/live", role="police")
    second = body["live"]
    assert second["id"] != live["id"]

    async def ended() -> bool:
        _, s = await hq.call("GET", second["status_url"], role="police")
        return s["live"]["state"] == "ended"

    await read_frames(hq, second["stream_url"], 2)
    await wait_async(ended, 30, "the view to end at its time limit")
    _, s = await hq.call("GET", second["status_url"], role="police")
    assert s["live"]["ended"] == "time_up" and s["live"]["frames"] >= 2
    await tap.wait_stage(second["command_id"], AckStage.PLAYED, timeout=20)

    # uploads: the token is the credential
    async with hq.client.post("/api/v1/live/upload/not-a-token", data=b"\xff\xd8\xff",
                              headers={"Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 401
    _, audit = await hq.call("GET", "/api/v1/audit?limit=50", role="admin")
    assert not any("/api/v1/live/upload" in e["target"] for e in audit["audit"])  # frames are not audited one by one
    assert any(e["target"] == "/api/v1/cameras/cong-truong/live" and e["user"] == "police-1" for e in audit["audit"])


async def test_live_view_refused_when_the_node_is_offline(start_hq, camera_sim, start_agent) -> None:  # noqa: F811
    hq = await start_hq()
    agent = await camera_node(hq, camera_sim, start_agent)
    await agent.stop()

    async def offline() -> bool:
        _, body = await hq.call("GET", "/api/v1/nodes/cam-node-1", role="technician")
        return body["node"]["state"] == "offline"

    await wait_async(offline, 30, "the node offline")
    status, body = await hq.call("POST", "/api/v1/cameras/cong-truong/live", role="police")
    assert status == 409 and "mất kết nối" in body["error"]
    assert (await hq.call("POST", "/api/v1/cameras/nope/live", role="police"))[0] == 404
    assert (await hq.call("POST", "/api/v1/cameras/cong-truong/live", role="broadcaster"))[0] == 403
