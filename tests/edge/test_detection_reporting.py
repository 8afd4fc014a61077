"""The node's detection events: kept on disk, published in order when the link is up, pictures on request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.camera.detector import DetectedEvent
from edge_agent.camera.regions import Box
from edge_agent.camera.reporting import DetectionReporter, DetectionStore, to_contract
from edge_agent.control.acks import AckReporter
from edge_agent.control.outbox import DiskOutbox
from loaxa_contract import codec
from loaxa_contract.models import Ack, DetectionEvent, DetectionPictureCommand
from loaxa_link.mqtt import NotConnectedError


def detected(at: datetime, camera: str = "cong-truong") -> DetectedEvent:
    return DetectedEvent(camera, "person", at, 1.7, (Box(0.4, 0.2, 0.1, 0.4, 1.7),), 640, 360, b"\xff\xd8\xffjpeg")


class Link:
    """The MQTT edge: records what is published; can be down."""

    def __init__(self) -> None:
        self.up = False
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        if not self.up:
            raise NotConnectedError("down")
        self.sent.append((topic, payload))


def reporter(tmp_path: Path, link: Link) -> DetectionReporter:
    acks = AckReporter("cam-1", "loaxa/v1/xa/node/cam-1/ack", link.publish, lambda: link.up,
                       outbox=DiskOutbox(tmp_path / "outbox"), health_topic="loaxa/v1/xa/node/cam-1/health")
    return DetectionReporter("cam-1", "xa", DetectionStore(tmp_path / "events", keep=3), link.publish,
                             lambda: link.up, acks)


async def test_events_wait_on_disk_while_offline_and_go_out_in_order_marked_historical(tmp_path: Path) -> None:
    link = Link()
    rep = reporter(tmp_path, link)
    old = datetime.now(UTC) - timedelta(minutes=5)
    await rep.on_event(detected(old))
    await rep.on_event(detected(old + timedelta(seconds=3), camera="cho-xa"))
    assert link.sent == [] and len(rep.store.pending()) == 2
    fresh = reporter(tmp_path, link)  # a reboot: the files are the state
    link.up = True
    await fresh.flush()
    events = [codec.decode_model(p, DetectionEvent) for _, p in link.sent]
    assert [t for t, _ in link.sent] == ["loaxa/v1/xa/node/cam-1/camera/cong-truong/event",
                                         "loaxa/v1/xa/node/cam-1/camera/cho-xa/event"]
    assert all(e.historical for e in events) and events[0].at < events[1].at
    assert fresh.store.pending() == [] and fresh.store.picture(events[0].id) == b"\xff\xd8\xffjpeg"
    await fresh.on_event(detected(datetime.now(UTC)))
    assert not codec.decode_model(link.sent[-1][1], DetectionEvent).historical  # live: not historical


async def test_store_keeps_the_newest_events_only(tmp_path: Path) -> None:
    store = DetectionStore(tmp_path / "events", keep=3)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(5):
        msg = to_contract(detected(t0 + timedelta(seconds=i)))
        store.put(msg, b"\xff\xd8\xff")
        ids.append(msg.id)
    assert [e.id for e in store.pending()] == ids[2:]
    assert store.picture(ids[0]) is None and store.picture(ids[4]) == b"\xff\xd8\xff"
    assert store.picture("../../etc/passwd") is None


async def test_picture_of_an_unknown_event_is_a_failed_ack_with_a_reason(tmp_path: Path) -> None:
    link = Link()
    link.up = True
    rep = reporter(tmp_path, link)
    cmd = DetectionPictureCommand(id="c-1", seq=1, target="node:cam-1", expires_at=datetime.now(UTC),
                                  camera="cong-truong", event_id="nope", upload_url="http://127.0.0.1:9/api/v1/detections/upload/SECRET-TOKEN-1")
    await rep.handle_picture(cmd)
    acks = [codec.decode_model(p, Ack) for t, p in link.sent if t.endswith("/ack")]
    assert [(a.command_id, a.stage.value, a.reason) for a in acks] == [("c-1", "failed", "unknown_event")]
    await rep.on_event(detected(datetime.now(UTC)))
    event = codec.decode_model(link.sent[-1][1], DetectionEvent)
    await rep.handle_picture(cmd.model_copy(update={"id": "c-0", "event_id": event.id, "camera": "cho-xa"}))
    last = codec.decode_model(link.sent[-1][1], Ack)
    assert (last.command_id, last.stage.value, last.reason) == ("c-0", "failed", "wrong_camera")
    cmd2 = cmd.model_copy(update={"id": "c-2", "event_id": event.id})
    await rep.handle_picture(cmd2)  # nothing listens on port 9: the upload fails, said in the ack
    last = codec.decode_model(link.sent[-1][1], Ack)
    assert (last.command_id, last.stage.value, last.reason) == ("c-2", "failed", "upload_failed")
    assert "SECRET-TOKEN-1" not in json.loads(link.sent[-1][1])["detail"]  # the one-time token stays secret
