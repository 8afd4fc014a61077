"""RTSP server child process: GStreamer's RTSP server (python3-gi) fed with JPEG frames on stdin.

Runs under the system ``/usr/bin/python3`` (the venv has no ``gi``) and imports nothing else from the
project. Usage: ``rtsp_child.py CAM_ID:FPS [CAM_ID:FPS ...]``. Prints ``READY <port>`` once listening on
127.0.0.1. Stdin carries frames: a 2-byte camera index, a 4-byte length and an 8-byte capture time (big-endian), then
the JPEG.
Each RTSP client gets its own pipeline (``appsrc ! jpegdec ! x264enc ! rtph264pay``), so a client that
connects after a resolution change sees the new size from its first frame. EOF on stdin stops the server.
Each frame comes with its capture time (``time.monotonic()`` of the simulator, the same clock here): its
buffer timestamp is the pipeline's running time less how late the frame arrived, so the RTP timestamps keep
the camera's steady pace even when the simulator, short of CPU, sends frames in bursts.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LAUNCH = (
    "( appsrc name=src is-live=true format=time do-timestamp=false block=false max-bytes=2000000 "
    "caps=image/jpeg,framerate={fps}/1 ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=1500 ! "
    "rtph264pay name=pay0 pt=96 config-interval=1 )"
)


#: Per frame on stdin: camera index, JPEG length, capture time (the simulator's time.monotonic()).
_HEADER = struct.Struct("!HId")


class Feeds:
    """The appsrc elements of the live client pipelines, per camera index."""

    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.sources: list[set] = [set() for _ in range(count)]
        self.last_pts: dict[object, int] = {}  # per client pipeline: timestamps must increase

    def attach(self, index: int, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_child_by_name("src")
        if src is None:
            return
        with self.lock:
            self.sources[index].add(src)

        def gone(_media: object) -> None:
            with self.lock:
                self.sources[index].discard(src)
                self.last_pts.pop(src, None)

        media.connect("unprepared", gone)

    def push(self, index: int, data: bytes, captured: float) -> None:
        with self.lock:
            sources = list(self.sources[index]) if index < len(self.sources) else []
        late = max(0, int((time.monotonic() - captured) * Gst.SECOND))
        for src in sources:
            now = src.get_current_running_time()
            if now == Gst.CLOCK_TIME_NONE:
                continue  # not playing yet: nobody is watching
            pts = now - late  # the capture time on this pipeline's clock
            if pts < 0 or pts <= self.last_pts.get(src, -1):
                continue  # taken before this client's pipeline started: a camera would not send it either
            self.last_pts[src] = pts
            buf = Gst.Buffer.new_wrapped(data)
            buf.pts = pts
            src.emit("push-buffer", buf)


def read_frames(feeds: Feeds, loop: GLib.MainLoop) -> None:
    stream = sys.stdin.buffer
    try:
        while True:
            header = stream.read(_HEADER.size)
            if len(header) < _HEADER.size:
                break
            index, length, captured = _HEADER.unpack(header)
            data = stream.read(length)
            if len(data) < length:
                break
            feeds.push(index, data, captured)
    finally:
        GLib.idle_add(loop.quit)


def main(argv: list[str]) -> int:
    Gst.init(None)
    cams = [a.split(":") for a in argv]
    feeds = Feeds(len(cams))
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    mounts = server.get_mount_points()
    for index, (cam_id, fps) in enumerate(cams):
        factory = GstRtspServer.RTSPMediaFactory()
        rate = max(1, round(float(fps)))
        factory.set_launch(os.environ.get("LOAXA_RTSP_LAUNCH", LAUNCH).format(fps=rate, gop=max(1, rate // 2)))
        factory.set_shared(False)
        factory.connect("media-configure", lambda _f, media, i=index: feeds.attach(i, media))
        mounts.add_factory(f"/{cam_id}", factory)
    server.attach(None)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    threading.Thread(target=read_frames, args=(feeds, loop), name="rtsp-stdin", daemon=True).start()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
