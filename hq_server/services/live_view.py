"""On-demand camera live view at HQ: sessions, one-time upload URLs, frames fanned out to the browsers.

A police officer asks for a camera's live view; HQ opens a session (one per camera: a second viewer joins
the running one), signs a ``live_view`` command to the camera's node with a one-time upload URL, and
relays every JPEG the node POSTs there to the browsers watching (``multipart/x-mixed-replace``). The
camera's address and credentials stay on the node; the browser only ever sees HQ's frames.

A session ends by itself: at ``max_s`` (a few minutes), ``idle_s`` after its last viewer left, when the
node sends nothing within ``START_S`` of the request (offline, camera dead), when the node reports a
failure, or when a user stops it. HQ then answers the node's next frame ``410 Gone`` and the node stops.
Frames live in memory only (the newest one per session); nothing of a live view is written to disk.

The decisions (:func:`end_reason`) are pure; the hub holds the state and wakes the viewers.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

START_S = 20.0
"""The node must deliver its first frame within this long, or the view ends ("no answer from the node")."""
MAX_FRAME_BYTES = 512 * 1024
UPLOAD_PATH = "/api/v1/live/upload/"
ENDED_KEEP_S = 300.0
"""An ended session stays readable (its reason) this long, then is forgotten."""

# why a view ended (codes; the web UI words them)
TIME_UP, IDLE, NO_START, NODE_FAILED, STOPPED, REPLACED = ("time_up", "idle", "no_answer", "node_failed", "stopped",
                                                          "replaced")


def looks_like_jpeg(data: bytes) -> bool:
    """Start and end markers of a whole JPEG. Why no full decode (as for stored snapshots): a frame is never
    stored nor parsed at HQ, only relayed to browsers, whose JPEG decoders are hardened; decoding 2–4 frames a
    second per view with ffmpeg processes would cost HQ more than the view itself. The one-time session URL
    is the credential; size is capped at ``MAX_FRAME_BYTES``."""
    return data.startswith(b"\xff\xd8\xff") and data.rstrip(b"\x00").endswith(b"\xff\xd9")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class LiveSession:
    id: str
    camera: str
    node: str
    requested_by: str
    token_hash: str
    opened_at: float
    max_s: float
    idle_s: float
    width: int
    fps: float
    quality: int
    frame: bytes | None = None
    frame_no: int = 0
    frame_at: float | None = None
    bytes_in: int = 0
    viewers: int = 0
    viewer_left_at: float | None = None
    ended: str | None = None  # the reason, once ended
    ended_at: float | None = None
    detail: str = ""
    command_id: str | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def state(self) -> str:
        return "ended" if self.ended else ("streaming" if self.frame_no else "starting")

    def ends_in(self, now: float) -> float:
        return 0.0 if self.ended else max(0.0, self.opened_at + self.max_s - now)


def end_reason(s: LiveSession, now: float) -> str | None:
    """Why ``s`` should end now (None: it goes on). Pure."""
    if s.ended:
        return s.ended
    if now >= s.opened_at + s.max_s:
        return TIME_UP
    if s.frame_no == 0 and now >= s.opened_at + START_S:
        return NO_START
    if s.viewers == 0 and s.viewer_left_at is not None and now >= s.viewer_left_at + s.idle_s:
        return IDLE
    if s.viewers == 0 and s.viewer_left_at is None and now >= s.opened_at + START_S + s.idle_s:
        return IDLE  # asked for but never watched
    return None


class LiveError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LiveHub:
    """All live sessions of this HQ process (in memory; a restart ends them, the node then gets 410)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.sessions: dict[str, LiveSession] = {}
        self._by_token: dict[str, str] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def running_for(self, camera: str) -> LiveSession | None:
        return next((s for s in self.sessions.values() if s.camera == camera and not s.ended), None)

    def open(self, camera: str, node: str, user: str, *, max_s: float, idle_s: float, width: int, fps: float,
             quality: int) -> tuple[LiveSession, str]:
        """A new session and its upload token (shown once: only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        s = LiveSession(id=uuid.uuid4().hex[:16], camera=camera, node=node, requested_by=user,
                        token_hash=token_hash(token), opened_at=self.clock(), max_s=max_s, idle_s=idle_s,
                        width=width, fps=fps, quality=quality)
        self.sessions[s.id] = s
        self._by_token[s.token_hash] = s.id
        return s, token

    def get(self, session_id: str) -> LiveSession:
        s = self.sessions.get(session_id)
        if s is None:
            raise LiveError(404, "Không tìm thấy phiên xem trực tiếp (no such live view)")
        return s

    def by_token(self, token: str) -> LiveSession:
        sid = self._by_token.get(token_hash(token))
        if sid is None or sid not in self.sessions:
            raise LiveError(401, "Mã tải lên không hợp lệ (unknown live upload token)")
        return self.sessions[sid]

    async def push(self, s: LiveSession, jpeg: bytes) -> None:
        """A frame from the node; 410 once the session has ended (the node stops)."""
        await self.check(s)
        if s.ended:
            raise LiveError(410, f"Đã kết thúc xem trực tiếp (live view ended: {s.ended})")
        async with s.changed:
            s.frame, s.frame_no, s.frame_at = jpeg, s.frame_no + 1, self.clock()
            s.bytes_in += len(jpeg)
            s.changed.notify_all()

    async def end(self, s: LiveSession, reason: str, detail: str = "") -> None:
        if s.ended:
            return
        async with s.changed:
            s.ended, s.ended_at, s.detail = reason, self.clock(), detail[:300]
            s.changed.notify_all()

    async def check(self, s: LiveSession) -> None:
        reason = end_reason(s, self.clock())
        if reason and not s.ended:
            await self.end(s, reason)

    async def frames(self, s: LiveSession) -> AsyncIterator[bytes]:
        """Every new frame of ``s`` until it ends (the newest only: a slow viewer skips frames, never lags)."""
        s.viewers += 1
        seen = 0
        try:
            while True:
                async with s.changed:
                    await s.changed.wait_for(lambda seen=seen: s.frame_no != seen or s.ended is not None)
                    frame, seen, ended = s.frame, s.frame_no, s.ended
                if ended:
                    return
                if frame is not None:
                    yield frame
        finally:
            s.viewers -= 1
            if s.viewers == 0:
                s.viewer_left_at = self.clock()

    async def sweep(self) -> None:
        """End what is due; forget sessions ended long ago."""
        now = self.clock()
        for s in list(self.sessions.values()):
            await self.check(s)
            if s.ended_at is not None and now - s.ended_at > ENDED_KEEP_S:
                del self.sessions[s.id]
                self._by_token.pop(s.token_hash, None)

    def start(self, every_s: float = 1.0) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every_s)
                await self.sweep()

        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(loop(), name="live-view-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for s in self.sessions.values():
            await self.end(s, STOPPED, "HQ is stopping")
