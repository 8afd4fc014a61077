"""Cameras as the police post reads them (pure; translated by gettext).

A camera's status comes from its node's OpenCV sampling; when that node itself is offline, nobody is
watching the camera and its last status means nothing, so the wall says "node offline" whatever the
camera last reported (Frigate's lesson: a clear "stalled" state, never a frozen last picture shown as
live). Problems sort first: no picture at all, then a bad picture, then unknown, then working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hq_server.ui.fmt import Gettext, fmt_datetime


def _(s: str) -> str:  # extraction marker; translated by the caller's gettext
    return s


CAMERA_STATES = {
    "ok": _("Working"), "offline": _("No picture: camera unreachable"), "frozen": _("Picture frozen"),
    "black": _("Picture black"), "covered": _("Camera covered"), "blurred": _("Picture blurred"),
    "low_fps": _("Too few frames"), "wrong_resolution": _("Wrong picture size"), "unknown": _("Not checked yet"),
    "node_offline": _("Node offline: camera not watched"),
}
CAMERA_TONE = {"ok": "ok", "offline": "bad", "node_offline": "bad", "unknown": "off"}
ORDER = {"bad": 0, "warn": 1, "off": 2, "ok": 3}


def camera_state(status: str, node_state: str | None) -> str:
    """What the wall shows: ``node_offline`` when the camera's node is offline, else the camera's status."""
    return "node_offline" if node_state == "offline" else (status if status in CAMERA_STATES else "unknown")


def camera_name(c: Any) -> str:
    """The name people know: as configured on the node ("Cổng trường"), else HQ's location text, else the id."""
    return getattr(c, "name", None) or c.location or c.id


def tone(state: str) -> str:
    return CAMERA_TONE.get(state, "warn")


@dataclass(frozen=True)
class CameraFacts:
    id: str
    name: str
    node: str
    village: str
    state: str
    state_text: str
    tone: str
    since: str
    detail: str
    node_state: str
    snapshot: str | None  # id of the newest stored picture (the tile reloads it when this changes)
    snapshot_at: str
    snapshot_iso: str  # the same instant for scripts (a wall asks again for pictures older than a few minutes)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def camera_facts(c: Any, node_state: str | None, names: dict[str, str], snapshot: tuple[str, datetime] | None,
                 _: Gettext, technical: bool = True) -> CameraFacts:
    """``c``: a :class:`~hq_server.storage.tables.Camera`; ``snapshot``: (id, taken at) of its newest picture;
    ``technical``: include the node's own (English, technical) detail — for technicians, not the police post."""
    state = camera_state(c.status, node_state)
    detail = (c.last_health or {}).get("detail") or "" if technical else ""
    return CameraFacts(
        id=c.id, name=camera_name(c), node=c.node_id or "", village=names.get(c.zone or "", c.zone or ""),
        state=state, state_text=_(CAMERA_STATES[state]), tone=tone(state),
        since=_("since %(t)s") % {"t": fmt_datetime(c.status_since)} if state != "node_offline" else "",
        detail="" if state in ("ok", "node_offline") else detail, node_state=node_state or "unknown",
        snapshot=snapshot[0] if snapshot else None, snapshot_at=fmt_datetime(snapshot[1]) if snapshot else "",
        snapshot_iso=snapshot[1].isoformat() if snapshot else "")


def wall_order(facts: list[CameraFacts]) -> list[CameraFacts]:
    """Problems first (no picture, bad picture, unknown), then working cameras; by name within a group."""
    return sorted(facts, key=lambda f: (ORDER.get(f.tone, 1), f.name.lower(), f.id))


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    status: str

    def share(self, start: datetime, end: datetime) -> float:
        """Percentage of [start, end] this segment covers (for a CSS width)."""
        return round(100 * (self.end - self.start).total_seconds() / max(1.0, (end - start).total_seconds()), 3)


def status_segments(events: list[Any], before: str | None, start: datetime, end: datetime) -> list[Segment]:
    """A camera's status over [start, end] from its status-change events (``at``, ``status``) — the history band."""
    out: list[Segment] = []
    status, cursor = before or "unknown", start
    for e in sorted(events, key=lambda e: e.at):
        if e.at <= start:
            status = e.status
            continue
        if e.at >= end:
            break
        if e.at > cursor:
            out.append(Segment(cursor, e.at, status))
        cursor, status = e.at, e.status
    if end > cursor:
        out.append(Segment(cursor, end, status))
    merged: list[Segment] = []
    for seg in out:  # consecutive segments of one status are one
        if merged and merged[-1].status == seg.status:
            merged[-1] = Segment(merged[-1].start, seg.end, seg.status)
        else:
            merged.append(seg)
    return merged


ALERT_KINDS = {"camera_status": _("Camera condition"), "camera_detection": _("Someone detected"),
               "node_offline": _("Node offline")}
_CAMERA_CHANGE = re.compile(r"^Camera (\S+): (\w+) → (\w+)(?: \((.*)\))?$")
_NODE_OFFLINE = re.compile(r"^Node (\S+) offline for ([\d.]+) min")


def alert_text(kind: str, message: str, names: dict[str, str], _: Gettext, technical: bool = True) -> str:
    """An alert in plain words with the camera's name (the node's technical detail only for technicians); a
    message HQ already words differently is shown as it is."""
    if kind == "camera_status" and (m := _CAMERA_CHANGE.match(message)):
        cam, new = names.get(m.group(1), m.group(1)), m.group(3)
        text = _("Camera %(name)s: %(state)s") % {"name": cam, "state": _(CAMERA_STATES.get(new, new))}
        return text + (f" ({m.group(4)})" if technical and m.group(4) and new != "ok" else "")
    if kind == "node_offline" and (m := _NODE_OFFLINE.match(message)):
        return _("Node %(node)s has been offline for %(min)s minutes") % {"node": m.group(1),
                                                                           "min": round(float(m.group(2)))}
    return message
