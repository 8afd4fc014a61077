"""Cameras as the police post reads them (pure; translated by gettext).

A camera's status comes from its node's OpenCV sampling; when that node itself is offline, nobody is
watching the camera and its last status means nothing, so the wall says "node offline" whatever the
camera last reported (Frigate's lesson: a clear "stalled" state, never a frozen last picture shown as
live). Problems sort first: no picture at all, then a bad picture, then unknown, then working.
"""

from __future__ import annotations

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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def camera_facts(c: Any, node_state: str | None, names: dict[str, str], snapshot: tuple[str, datetime] | None,
                 _: Gettext) -> CameraFacts:
    """``c``: a :class:`~hq_server.storage.tables.Camera`; ``snapshot``: (id, taken at) of its newest picture."""
    state = camera_state(c.status, node_state)
    detail = (c.last_health or {}).get("detail") or ""
    return CameraFacts(
        id=c.id, name=c.location or c.id, node=c.node_id or "", village=names.get(c.zone or "", c.zone or ""),
        state=state, state_text=_(CAMERA_STATES[state]), tone=tone(state),
        since=_("since %(t)s") % {"t": fmt_datetime(c.status_since)} if state != "node_offline" else "",
        detail="" if state in ("ok", "node_offline") else detail, node_state=node_state or "unknown",
        snapshot=snapshot[0] if snapshot else None, snapshot_at=fmt_datetime(snapshot[1]) if snapshot else "")


def wall_order(facts: list[CameraFacts]) -> list[CameraFacts]:
    """Problems first (no picture, bad picture, unknown), then working cameras; by name within a group."""
    return sorted(facts, key=lambda f: (ORDER.get(f.tone, 1), f.name.lower(), f.id))
