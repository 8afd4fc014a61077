"""Serve simulated cameras on 127.0.0.1: MJPEG over HTTP (aiohttp) and RTSP (GStreamer child process).

One :class:`CameraSimulator` serves any number of cameras from one process:

* MJPEG: ``http://127.0.0.1:{port}/cam/{id}.mjpg`` (``multipart/x-mixed-replace; boundary=frame``),
  a still at ``/cam/{id}.jpg``;
* RTSP: ``rtsp://127.0.0.1:{proxy_port}/{id}``: a small TCP proxy per camera in front of the
  GStreamer RTSP server child (run by the system python3), so transport faults work the same way;
* control: ``POST /cam/{id}/fault`` with ``{"fault": "freeze"}`` (or ``?fault=freeze``),
  ``POST /cam/{id}/action?action=person[&seconds=8]`` (or JSON ``{"action": …, "seconds": …}``),
  ``GET /cams`` lists cameras, URLs, faults and actions. In-process: :meth:`CameraSimulator.set_fault`,
  :meth:`CameraSimulator.set_action`.

Faults: ``disconnect`` (connections dropped, new ones closed at once), ``stall`` (accepted, nothing
sent), ``freeze``, ``black``, ``cover``, ``blur``, ``fps_drop``, ``resolution``; ``none`` clears.
Actions (what happens in front of the camera, see :mod:`simulators.camera.scene`): ``person``,
``object``, ``lights``, ``shake``; ``none`` clears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from simulators.camera.actors import ActorError
from simulators.camera.scene import ACTIONS, FAULTS, SceneCamera

logger = logging.getLogger(__name__)

SYSTEM_PYTHON = os.environ.get("LOAXA_GI_PYTHON", "/usr/bin/python3")
CHILD = Path(__file__).with_name("rtsp_child.py")
HOST = "127.0.0.1"
_POLL_S = 0.05
_MAX_BACKLOG_S = 1.0  # RTSP frames rendered later than this behind their capture time are skipped


@dataclass
class SimulatedCamera:
    scene: SceneCamera
    protocol: str = "mjpeg"  # or "rtsp"
    url: str = ""
    index: int = -1  # position among the RTSP cameras
    port: int = 0  # RTSP proxy port
    conns: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.scene.id

    @property
    def fault(self) -> str:
        return self.scene.fault


class CameraSimulator:
    """Start with ``async with CameraSimulator.make(...)`` or :meth:`start`/:meth:`stop`."""

    def __init__(self, cameras: list[SimulatedCamera], *, port: int = 0) -> None:
        if len({c.id for c in cameras}) != len(cameras):
            raise ValueError("camera ids must be unique")
        self.cameras = {c.id: c for c in cameras}
        self.port = port
        self._runner: web.AppRunner | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._child_port = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._t0 = time.monotonic()

    @classmethod
    def make(
        cls, mjpeg: int = 1, rtsp: int = 0, *, width: int = 320, height: int = 240, fps: float = 10.0, port: int = 0,
        scene: str = "street",
    ) -> CameraSimulator:
        cams = [
            SimulatedCamera(SceneCamera(f"mjpeg-{i + 1}", width, height, fps, seed=i, scene=scene), "mjpeg")
            for i in range(mjpeg)
        ]
        cams += [
            SimulatedCamera(SceneCamera(f"rtsp-{i + 1}", width, height, fps, seed=100 + i, scene=scene), "rtsp")
            for i in range(rtsp)
        ]
        return cls(cams, port=port)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cams", self._list)
        app.router.add_get("/cam/{id}.mjpg", self._mjpeg)
        app.router.add_get("/cam/{id}.jpg", self._still)
        app.router.add_post("/cam/{id}/fault", self._set_fault)
        app.router.add_post("/cam/{id}/action", self._set_action)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for cam in self.cameras.values():
            if cam.protocol == "mjpeg":
                cam.url = f"http://{HOST}:{self.port}/cam/{cam.id}.mjpg"
        rtsp = [c for c in self.cameras.values() if c.protocol == "rtsp"]
        if rtsp:
            await self._start_rtsp(rtsp)

    async def _start_rtsp(self, cams: list[SimulatedCamera]) -> None:
        args = [f"{c.id}:{c.scene.fps:g}" for c in cams]
        self._child = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(CHILD), *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self._child.stdout is not None
        try:
            line = await asyncio.wait_for(self._child.stdout.readline(), 20)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            await self.stop()
            reason = rtsp_requirements_error() or f"it printed {line!r}"
            raise RuntimeError(f"RTSP child did not start: {reason}")
        self._child_port = int(line.split()[1])
        for index, cam in enumerate(cams):
            cam.index = index
            server = await asyncio.start_server(lambda r, w, c=cam: self._proxy(c, r, w), HOST, 0)
            self._servers.append(server)
            cam.port = server.sockets[0].getsockname()[1]
            cam.url = f"rtsp://{HOST}:{cam.port}/{cam.id}"
            self._tasks.append(asyncio.create_task(self._feed(cam), name=f"sim-feed:{cam.id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for server in self._servers:
            server.close()
        for cam in self.cameras.values():
            for w in list(cam.conns):
                w.close()
        self._servers.clear()
        if self._child is not None:
            if self._child.stdin is not None:
                self._child.stdin.close()
            try:
                await asyncio.wait_for(self._child.wait(), 5)
            except TimeoutError:
                self._child.kill()
                await self._child.wait()
            self._child = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> CameraSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ control

    @property
    def urls(self) -> dict[str, str]:
        return {c.id: c.url for c in self.cameras.values()}

    def control_url(self, cam_id: str) -> str:
        return f"http://{HOST}:{self.port}/cam/{cam_id}/fault"

    def set_fault(self, cam_id: str, fault: str) -> None:
        cam = self.cameras[cam_id]
        cam.scene.set_fault(fault)
        logger.info("camera %s: fault %s", cam_id, fault)
        if fault == "disconnect":
            for w in list(cam.conns):
                w.close()

    def action_url(self, cam_id: str) -> str:
        return f"http://{HOST}:{self.port}/cam/{cam_id}/action"

    def set_action(self, cam_id: str, action: str, seconds: float | None = None) -> None:
        self.cameras[cam_id].scene.set_action(action, seconds)
        logger.info("camera %s: action %s", cam_id, action)

    async def _set_action(self, request: web.Request) -> web.Response:
        cam_id = request.match_info["id"]
        if cam_id not in self.cameras:
            raise web.HTTPNotFound(text=f"no camera {cam_id}")
        body = await request.json() if request.can_read_body else {}
        action = request.query.get("action", body.get("action"))
        seconds = request.query.get("seconds", body.get("seconds"))
        if action not in ACTIONS:
            raise web.HTTPBadRequest(text=f"action must be one of {', '.join(ACTIONS)}")
        try:
            await asyncio.to_thread(self.set_action, cam_id, action, None if seconds is None else float(seconds))
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        except ActorError as err:  # e.g. scikit-image (the person's photo) not installed
            raise web.HTTPServiceUnavailable(text=str(err)) from None
        return web.json_response({"camera": cam_id, "action": action})

    async def _set_fault(self, request: web.Request) -> web.Response:
        cam_id = request.match_info["id"]
        if cam_id not in self.cameras:
            raise web.HTTPNotFound(text=f"no camera {cam_id}")
        fault = request.query.get("fault")
        if fault is None and request.can_read_body:
            fault = (await request.json()).get("fault")
        if fault not in FAULTS:
            raise web.HTTPBadRequest(text=f"fault must be one of {', '.join(FAULTS)}")
        self.set_fault(cam_id, fault)
        return web.json_response({"camera": cam_id, "fault": fault})

    async def _list(self, _request: web.Request) -> web.Response:
        return web.json_response(
            [{"id": c.id, "protocol": c.protocol, "url": c.url, "fault": c.fault, "action": c.scene.action,
              "scene": c.scene.scene} for c in self.cameras.values()]
        )

    # ------------------------------------------------------------------ MJPEG

    def _cam(self, request: web.Request) -> SimulatedCamera:
        cam = self.cameras.get(request.match_info["id"])
        if cam is None or cam.protocol != "mjpeg":
            raise web.HTTPNotFound()
        return cam

    async def _gate(self, request: web.Request, cam: SimulatedCamera) -> bool:
        """Apply transport faults before answering; False when the camera is 'disconnected'."""
        while cam.fault == "stall":
            await asyncio.sleep(_POLL_S)
        # a camera whose video service died: its web server still answers, with an error
        return cam.fault != "disconnect"

    async def _still(self, request: web.Request) -> web.StreamResponse:
        cam = self._cam(request)
        if not await self._gate(request, cam):
            raise web.HTTPServiceUnavailable(text="camera disconnected")
        data = await asyncio.to_thread(cam.scene.jpeg, time.monotonic() - self._t0)
        return web.Response(body=data, content_type="image/jpeg")

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        cam = self._cam(request)
        if not await self._gate(request, cam):
            raise web.HTTPServiceUnavailable(text="camera disconnected")
        resp = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while cam.fault != "disconnect":
                if cam.fault == "stall":
                    await asyncio.sleep(_POLL_S)
                    continue
                data = await asyncio.to_thread(cam.scene.jpeg, time.monotonic() - self._t0)
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                await resp.write(head + data + b"\r\n")
                due = max(due + cam.scene.frame_interval, loop.time())
                await asyncio.sleep(due - loop.time())
        except (ConnectionResetError, ConnectionError):
            return resp
        if request.transport is not None:
            request.transport.close()
        return resp

    # ------------------------------------------------------------------ RTSP

    async def _feed(self, cam: SimulatedCamera) -> None:
        """Push the camera's frames into the RTSP child at the camera's frame rate, with their capture times.

        A real camera's sensor takes frames on its own steady clock and stamps them (RTP timestamps) even
        when the network or its encoder delivers them late. When this process is short of CPU the frames
        are rendered late: each is still rendered for, and stamped with, its scheduled capture time, and a
        backlog is caught up rather than skipped (beyond 1 s it is dropped, as a camera's queue overflows).
        """
        assert self._child is not None and self._child.stdin is not None
        stdin = self._child.stdin
        loop = asyncio.get_running_loop()  # loop.time() is time.monotonic(), the child's clock too
        due = loop.time()
        while True:
            data = await asyncio.to_thread(cam.scene.jpeg, due - self._t0)
            stdin.write(struct.pack("!HId", cam.index, len(data), due) + data)
            await stdin.drain()
            due += cam.scene.frame_interval
            if loop.time() - due > _MAX_BACKLOG_S:
                due = loop.time()
            await asyncio.sleep(due - loop.time())

    async def _proxy(self, cam: SimulatedCamera, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cam.conns.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            while cam.fault == "stall":
                await asyncio.sleep(_POLL_S)
            if cam.fault == "disconnect":
                return
            up_reader, up_writer = await asyncio.open_connection(HOST, self._child_port)
            await asyncio.gather(self._pump(cam, reader, up_writer, False), self._pump(cam, up_reader, writer, True))
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # simulator stopping: end quietly (asyncio's stream callback would log a cancelled handler task)
            pass
        finally:
            cam.conns.discard(writer)
            writer.close()
            if up_writer is not None:
                up_writer.close()

    @staticmethod
    async def _pump(cam: SimulatedCamera, src: asyncio.StreamReader, dst: asyncio.StreamWriter, down: bool) -> None:
        try:
            while data := await src.read(65536):
                while down and cam.fault == "stall":
                    await asyncio.sleep(_POLL_S)
                if cam.fault == "disconnect":
                    break
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()


#: Debian packages the RTSP simulator needs (CI installs them; scripts/setup.sh too).
RTSP_PACKAGES = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-rtsp",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-ugly",
)

# Run by the system python: prints one line per missing piece, "<what> (<package>)"; nothing when complete.
_CHECK = """
import sys
try:
    import gi
except ImportError:
    print("python module gi (python3-gi)"); sys.exit()
try:
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import Gst, GstRtspServer
except (ImportError, ValueError) as err:
    print(f"GstRtspServer 1.0 introspection: {err} (gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp)"); sys.exit()
Gst.init(None)
for element, package in [("appsrc", "gstreamer1.0-plugins-base"), ("videoconvert", "gstreamer1.0-plugins-base"),
                         ("jpegdec", "gstreamer1.0-plugins-good"), ("rtph264pay", "gstreamer1.0-plugins-good"),
                         ("x264enc", "gstreamer1.0-plugins-ugly")]:
    if Gst.ElementFactory.find(element) is None:
        print(f"GStreamer element {element} ({package})")
"""


def rtsp_requirements_error() -> str | None:
    """Why the RTSP simulator cannot run here (naming the apt packages), or None when it can."""
    import subprocess

    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        missing = f"{SYSTEM_PYTHON} not found (python3)"
    except (OSError, subprocess.TimeoutExpired) as err:
        missing = f"{SYSTEM_PYTHON} failed: {err}"
    else:
        missing = "; ".join(done.stdout.split("\n")).strip("; ") if done.returncode == 0 else done.stderr[-500:]
    if not missing:
        return None
    return (
        f"the RTSP camera simulator cannot run: missing {missing}. Install with: "
        f"apt-get install -y {' '.join(RTSP_PACKAGES)}"
    )


def system_python_has_gi() -> bool:
    """True when the system python can run the RTSP child (python3-gi, GstRtspServer and the elements used)."""
    return rtsp_requirements_error() is None


__all__ = ["RTSP_PACKAGES", "CameraSimulator", "SimulatedCamera", "rtsp_requirements_error", "system_python_has_gi"]
