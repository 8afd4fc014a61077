"""The real monitor against real simulated streams (MJPEG over HTTP and RTSP in another process)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from edge_agent.camera import CameraConfig, CameraMonitor, SnapshotError, UnknownCamera, upload_snapshot
from loaxa_contract.models import CameraHealth
from loaxa_contract.models import CameraStatus as S

if TYPE_CHECKING:
    from conftest import SimProcess

pytestmark = pytest.mark.integration

FAST = dict(
    sample_interval_s=1.0,
    confirm_interval_s=0.3,
    frames_per_sample=4,
    open_timeout_s=3.0,
    read_timeout_s=3.0,
    expected_width=320,
    expected_height=240,
    min_fps=8,
    hysteresis={"change_after": 2, "offline_after": 2, "recover_after": 2},
)

EXPECTED = [
    ("freeze", S.FROZEN),
    ("black", S.BLACK),
    ("cover", S.COVERED),
    ("blur", S.BLURRED),
    ("resolution", S.WRONG_RESOLUTION),
    ("fps_drop", S.LOW_FPS),
    ("disconnect", S.OFFLINE),
    ("stall", S.OFFLINE),
]


class Recorder:
    def __init__(self) -> None:
        self.published: list[CameraHealth] = []

    async def __call__(self, health: CameraHealth) -> None:
        self.published.append(health)


async def test_every_fault_detected_and_recovered(sim: SimProcess, wait: Any) -> None:
    cams = ["mjpeg-1", *(["rtsp-1"] if sim.has_rtsp else [])]
    configs = [CameraConfig(id=c, url=sim.url(c), **FAST) for c in cams]
    rec = Recorder()
    async with CameraMonitor(configs, rec, node="node-1", publish_interval_s=2.0) as mon:

        def all_are(status: S) -> bool:
            return all(mon.health(c).status is status for c in cams)

        await wait(lambda: all_are(S.OK), 30, "healthy cameras to be ok")
        # healthy streams with noise and motion: several samples, no flapping
        await wait(lambda: all(mon.workers[c].samples >= 6 for c in cams), 60, "six healthy samples")
        for c in cams:
            assert [s for _, s in mon.workers[c].tracker.history] == [S.OK], c
        took = {}
        for fault, status in EXPECTED:
            for c in cams:
                sim.fault(c, fault)
            took[fault] = await wait(lambda st=status: all_are(st), 60, f"{fault} -> {status}")
            for c in cams:
                sim.fault(c, "none")
            await wait(lambda: all_are(S.OK), 60, f"recovery from {fault}")
        logging.getLogger(__name__).warning("detection times: %s", {k: round(v, 1) for k, v in took.items()})
        # every change was published, with metrics; periodic reports were published too
        for c in cams:
            changes = [h.status for h in rec.published if h.camera == c]
            for _, status in EXPECTED:
                assert status in changes
            ok = [h for h in rec.published if h.camera == c and h.status is S.OK][-1]
            assert ok.reachable and ok.width == 320 and ok.fps and 7 < ok.fps < 13
            assert ok.sharpness and ok.brightness and ok.first_frame_ms and ok.since <= ok.ts
            # the same status published again (periodic) keeps its 'since'
        sinces = {}
        for h in rec.published:
            sinces.setdefault((h.camera, h.status, h.since), 0)
            sinces[(h.camera, h.status, h.since)] += 1
        assert max(sinces.values()) >= 2, "periodic publish missing"


def _silent_listener() -> tuple[socket.socket, int]:
    """A peer that accepts TCP (kernel backlog) and never says a word."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s, s.getsockname()[1]


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_dead_cameras_never_stall_others(sim: SimProcess, wait: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    silent, port = _silent_listener()
    try:
        slow = dict(FAST, open_timeout_s=8.0, read_timeout_s=8.0)
        dead = [
            CameraConfig(
                id=f"silent-{i}", url=f"rtsp://127.0.0.1:{port}/s{i}", username="admin", password="s3cr3t-pw", **slow
            )
            for i in range(8)
        ] + [CameraConfig(id="refused", url=f"http://127.0.0.1:{_free_port()}/x.mjpg", **FAST)]
        live = CameraConfig(id="mjpeg-2", url=sim.url("mjpeg-2"), username="admin", password="s3cr3t-pw", **FAST)
        rec = Recorder()
        async with CameraMonitor([*dead, live], rec, node="node-1") as mon:
            await wait(lambda: mon.health("refused").status is S.OFFLINE, 20, "refused camera offline")
            await wait(lambda: mon.health("mjpeg-2").status is S.OK, 20, "live camera ok")
            start = time.monotonic()
            n0 = mon.workers["mjpeg-2"].samples
            # while eight cameras hang for 8 s each, the live one keeps its ~1 s cadence
            await wait(lambda: mon.workers["mjpeg-2"].samples >= n0 + 5, 15, "five more live samples")
            assert time.monotonic() - start < 10
            await wait(lambda: mon.health("silent-0").status is S.OFFLINE, 40, "silent camera offline")
        assert "s3cr3t-pw" not in caplog.text
        assert all("s3cr3t-pw" not in h.model_dump_json() for h in rec.published)
    finally:
        silent.close()


async def test_snapshot_and_upload(sim: SimProcess, wait: Any) -> None:
    received: list[tuple[bytes, str]] = []

    async def upload(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["X-LoaXa-Camera"]))
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/snapshots", upload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cfgs = [
        CameraConfig(id="mjpeg-3", url=sim.url("mjpeg-3"), **FAST),
        CameraConfig(id="gone", url=f"http://127.0.0.1:{_free_port()}/x.mjpg", **FAST),
    ]
    try:
        async with CameraMonitor(cfgs, Recorder(), node="node-1") as mon:
            jpeg = await mon.snapshot("mjpeg-3")
            assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 1000
            status = await upload_snapshot(
                f"http://127.0.0.1:{port}/api/snapshots?token=abc", jpeg, camera="mjpeg-3", node="node-1"
            )
            assert status == 201 and received == [(jpeg, "mjpeg-3")]
            with pytest.raises(UnknownCamera):
                await mon.snapshot("nope")
            with pytest.raises(SnapshotError, match="gone"):
                await mon.snapshot("gone")
        from edge_agent.camera import UploadError

        with pytest.raises(UploadError) as info:
            await upload_snapshot(f"http://127.0.0.1:{port}/missing?token=abc", jpeg, camera="c", node="n")
        assert "404" in str(info.value) and "token" not in str(info.value)
    finally:
        await runner.cleanup()


async def test_publish_errors_do_not_stop_monitoring(sim: SimProcess, wait: Any) -> None:
    calls = 0

    async def broken(_h: CameraHealth) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("broker down")

    cfg = CameraConfig(id="mjpeg-3", url=sim.url("mjpeg-3"), **FAST)
    async with CameraMonitor([cfg], broken, node="node-1", publish_interval_s=0.5) as mon:
        await wait(lambda: calls >= 3, 20, "three publish attempts")
        assert mon.health("mjpeg-3").status is S.OK
    await asyncio.sleep(0)
