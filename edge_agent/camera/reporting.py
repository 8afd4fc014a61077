"""Detection events from the node to HQ: kept on disk, published over MQTT, pictures uploaded on request.

Why this shape: an event is small (camera, kind, time, score, boxes) and goes over MQTT on
``node/{node}/camera/{camera}/event``, where the broker's ACL proves which node sent it. Its picture
(30-150 kB) does not: like a snapshot it is uploaded by HTTP POST to a one-time URL that HQ sends back
in a signed ``detection_picture`` command. Until then the node keeps it.

Events and pictures are files in ``state_dir/camera-events`` (``{id}.jpg``, ``{id}.pending.json`` until
published, then ``{id}.sent.json``), written atomically; the newest ``keep`` events are kept. An event
detected while the link is down waits there and is published on reconnect, marked ``historical``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge_agent.camera.detector import DetectedEvent
from edge_agent.camera.snapshot import UploadError, upload_snapshot
from edge_agent.control.acks import AckReporter
from loaxa_common.files import atomic_write_bytes
from loaxa_contract import codec, topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import (
    AckStage,
    CommandBase,
    DetectionBox,
    DetectionEvent,
    DetectionKind,
    DetectionPictureCommand,
)
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

LATE_S = 10.0
"""An event published later than this after it was detected is marked historical."""

Publish = Callable[[str, bytes], Awaitable[None]]


def to_contract(event: DetectedEvent) -> DetectionEvent:
    """The wire message of a detected event, with a fresh id (time first: ids sort chronologically)."""
    ident = f"{event.at.strftime('%Y%m%dT%H%M%S')}-{event.camera}-{secrets.token_hex(3)}"
    boxes = [DetectionBox(x=round(b.x, 4), y=round(b.y, 4), w=round(b.w, 4), h=round(b.h, 4), score=b.score)
             for b in event.boxes[:32]]
    return DetectionEvent(id=ident[:64], camera=event.camera, kind=DetectionKind(event.kind), at=event.at,
                          score=event.score, boxes=boxes, width=event.width, height=event.height,
                          picture=bool(event.jpeg))


class DetectionStore:
    """Event files by id (blocking: call through a thread)."""

    def __init__(self, directory: Path, keep: int = 200) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def put(self, event: DetectionEvent, jpeg: bytes) -> None:
        if jpeg:
            atomic_write_bytes(self.directory / f"{event.id}.jpg", jpeg)
        atomic_write_bytes(self.directory / f"{event.id}.pending.json", codec.encode(event))
        self.prune()

    def pending(self) -> list[DetectionEvent]:
        out = []
        for path in sorted(self.directory.glob("*.pending.json")):
            try:
                out.append(codec.decode_model(path.read_bytes(), DetectionEvent))
            except (OSError, ContractError) as err:
                logger.warning("dropping unreadable event file %s: %s", path.name, err)
                path.unlink(missing_ok=True)
        return out

    def mark_sent(self, event_id: str) -> None:
        pending = self.directory / f"{event_id}.pending.json"
        if pending.exists():
            pending.replace(self.directory / f"{event_id}.sent.json")

    def picture(self, event_id: str) -> bytes | None:
        if "/" in event_id or event_id.startswith("."):
            return None
        try:
            return (self.directory / f"{event_id}.jpg").read_bytes()
        except FileNotFoundError:
            return None

    def camera_of(self, event_id: str) -> str | None:
        """The camera of a kept event (from its pending or sent file), or None."""
        for state in ("pending", "sent"):
            path = self.directory / f"{event_id}.{state}.json"
            if "/" not in event_id and path.exists():
                try:
                    return codec.decode_model(path.read_bytes(), DetectionEvent).camera
                except (OSError, ContractError):
                    return None
        return None

    def prune(self) -> None:
        ids = sorted({p.name.split(".")[0] for p in self.directory.glob("*.json")})
        for old in ids[: max(0, len(ids) - self.keep)]:
            for path in self.directory.glob(f"{old}.*"):
                path.unlink(missing_ok=True)


class DetectionReporter:
    """Store, publish and upload the node's detection events (wired by the edge agent)."""

    def __init__(self, node: str, commune: str, store: DetectionStore, publish: Publish,
                 is_connected: Callable[[], bool], acks: AckReporter) -> None:
        self.node = node
        self.commune = commune
        self.store = store
        self._publish = publish
        self._is_connected = is_connected
        self.acks = acks
        self._lock = asyncio.Lock()
        self.published = 0

    async def on_event(self, event: DetectedEvent) -> None:
        message = to_contract(event)
        await asyncio.to_thread(self.store.put, message, event.jpeg)
        logger.info("camera %s: %s event %s stored", event.camera, event.kind, message.id)
        await self.flush()

    async def flush(self) -> None:
        """Publish stored events in order; stop at the first failure (the rest wait for the next connect)."""
        async with self._lock:
            if not self._is_connected():
                return
            for event in await asyncio.to_thread(self.store.pending):
                if event.at.timestamp() + LATE_S < time.time():
                    event = event.model_copy(update={"historical": True})
                try:
                    await self._publish(topics.camera_event(self.commune, self.node, event.camera),
                                        codec.encode(event))
                except LinkError as err:
                    logger.info("camera events waiting for the link: %s", err)
                    return
                await asyncio.to_thread(self.store.mark_sent, event.id)
                self.published += 1

    async def handle_picture(self, command: CommandBase) -> None:
        """``detection_picture``: upload the kept JPEG of ``event_id`` to the one-time URL, ack the outcome."""
        assert isinstance(command, DetectionPictureCommand)
        jpeg = await asyncio.to_thread(self.store.picture, command.event_id)
        camera = await asyncio.to_thread(self.store.camera_of, command.event_id)
        if jpeg is not None and camera != command.camera:
            await self.acks.ack(command.id, AckStage.FAILED, reason="wrong_camera",
                                detail=f"event {command.event_id!r} is of camera {camera!r}, not {command.camera!r}")
            return
        if jpeg is None:
            await self.acks.ack(command.id, AckStage.FAILED, reason="unknown_event",
                                detail=f"no picture of event {command.event_id!r} on this node")
            return
        try:
            await upload_snapshot(command.upload_url, jpeg, camera=command.camera, node=self.node)
        except UploadError as err:
            await self.acks.ack(command.id, AckStage.FAILED, reason="upload_failed", detail=str(err))
            return
        await self.acks.ack(command.id, AckStage.PLAYED, detail=f"picture of {command.event_id}: {len(jpeg)} bytes")


__all__ = ["DetectionReporter", "DetectionStore", "to_contract"]
