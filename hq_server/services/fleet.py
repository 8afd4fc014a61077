"""Fleet registry: nodes and cameras learned from their state/health topics or registered by hand.

Keeps what the commune reports upward: online/offline changes with their times (durations follow
from consecutive events), reboots (uptime going backwards), last health (temperature, errors), and
camera status history. Raises alerts on camera status changes and on nodes offline too long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services import zones
from hq_server.services.alert_texts import (
    camera_label,
    camera_status_detail,
    camera_status_message,
    node_offline_message,
)
from hq_server.services.alerts import Alerter
from hq_server.services.inbound import InboundRefused, Refusal
from hq_server.storage.tables import Camera, CameraEvent, Node, NodeEvent, now
from loaxa_contract.models import CameraHealth, NodeHealth, NodeState


async def get_or_create_node(session: AsyncSession, node_id: str) -> Node:
    node = await session.get(Node, node_id)
    if node is None:
        node = Node(id=node_id, zones=[], state="unknown", state_since=now())
        session.add(node)
    return node


async def load_nodes(session: AsyncSession, ids: set[str]) -> list[Node]:
    """Many nodes in one query; while the caller holds the list, ``session.get`` finds them without a query
    each (the session's identity map only keeps objects someone refers to)."""
    return list((await session.scalars(select(Node).where(Node.id.in_(sorted(ids))))).all()) if ids else []


async def apply_state(session: AsyncSession, msg: NodeState, claims: dict[str, str] | None = None) -> tuple[Node, bool]:
    """Record a node's retained state; returns (node, came_online). Zones it claims are registered now, or
    collected in ``claims`` (slug → node) for the caller to register once for a whole batch."""
    node = await get_or_create_node(session, msg.node)
    node.kind = msg.kind
    node.reported_zones = list(msg.zones)
    if not node.zones_assigned:  # the node's own claim, until HQ assigns its zones (then HQ's list wins)
        node.zones = list(msg.zones)
        if claims is None:
            await zones.register_claimed(session, msg.zones, msg.node)
        else:
            for slug in msg.zones:
                claims.setdefault(slug, msg.node)
    node.agent_version = msg.agent_version or node.agent_version
    node.last_seen_at = now()
    changed = node.state != msg.state
    if changed:
        node.state = msg.state
        # HQ's receipt time, never msg.ts: the last will is built when the agent connects, so its ts is
        # the start of the connection that just died, not the moment it died
        node.state_since = now()
        node.offline_alerted = False
        session.add(NodeEvent(node_id=node.id, at=node.state_since, event=msg.state))
        if msg.state == "offline":
            await cameras_unwatched(session, node)
    return node, changed and msg.state == "online"


NODE_OFFLINE_REASON = "mất kết nối với nút {node} (node offline)"
BROKER_DOWN_REASON = "HQ mất kết nối với broker MQTT: chưa biết trạng thái (HQ is not connected to the broker)"


@dataclass(frozen=True)
class View:
    """What HQ can vouch for now: a state and, when it is not the plain stored one, why."""

    state: str
    reason: str | None


def node_view(node: Node, link_up: bool) -> View:
    """``unknown`` while HQ's own link to the broker is down: no will can reach HQ then, so a stored
    ``online`` would be a guess."""
    if not link_up:
        return View("unknown", BROKER_DOWN_REASON)
    return View(node.state, None)


def camera_view(cam: Camera, node: Node | None, link_up: bool) -> View:
    if not link_up:
        return View("unknown", BROKER_DOWN_REASON)
    if node is not None and node.state == "offline" and cam.status == "unknown":
        return View("unknown", NODE_OFFLINE_REASON.format(node=node.id))
    return View(cam.status, None)
"""Why a camera is ``unknown`` while its node is offline (shown to the police as is)."""


async def cameras_unwatched(session: AsyncSession, node: Node) -> int:
    """The node's cameras turn ``unknown`` the moment the node goes offline: nobody watches them now.

    Timestamped with HQ's receipt time; the node republishes every camera's health when it reconnects.
    """
    cams = (await session.scalars(select(Camera).where(Camera.node_id == node.id,
                                                       Camera.status != "unknown"))).all()
    for cam in cams:
        cam.status, cam.status_since = "unknown", node.state_since
        session.add(CameraEvent(camera_id=cam.id, at=node.state_since, status="unknown",
                                detail=NODE_OFFLINE_REASON.format(node=node.id)))
    return len(cams)


async def apply_health(session: AsyncSession, msg: NodeHealth) -> Node:
    node = await get_or_create_node(session, msg.node)
    if node.last_uptime_s is not None and msg.uptime_s + 5 < node.last_uptime_s and not msg.historical:
        session.add(NodeEvent(node_id=node.id, at=msg.ts - timedelta(seconds=msg.uptime_s), event="reboot",
                              detail=f"uptime went from {node.last_uptime_s:.0f}s to {msg.uptime_s:.0f}s"))
    node.last_uptime_s = msg.uptime_s
    node.last_health = msg.model_dump(mode="json", exclude_none=True)
    node.last_seen_at = now()
    return node


async def apply_camera_health(session: AsyncSession, msg: CameraHealth, alerter: Alerter) -> Camera:
    """Record a camera's health from the node that sent it (``msg.node``, already checked against the topic).

    A camera belongs to one node: the one a technician registered it to, else the first that reported it.
    Another node's report is refused (:class:`~hq_server.services.inbound.InboundRefused`, alerted by the
    orchestrator), never a re-bind: snapshot upload tokens go to the camera's node.
    """
    cam = await session.get(Camera, msg.camera)
    if cam is None:
        cam = Camera(id=msg.camera, node_id=msg.node, status="unknown", status_since=now())
        session.add(cam)
    elif cam.node_id and cam.node_id != msg.node:
        raise InboundRefused(Refusal.CAMERA_CLAIM, msg.node, f"camera {cam.id} is bound to node {cam.node_id}",
                             subject=cam.id)
    node = await session.get(Node, msg.node)
    if node is not None and node.state == "offline" and msg.ts < node.state_since:
        return cam  # retained health from before the node went offline: its cameras stay unknown
    cam.node_id = msg.node
    cam.name = msg.name or cam.name
    cam.last_health = msg.model_dump(mode="json", exclude_none=True)
    if cam.status != msg.status.value:
        previous = cam.status
        cam.status = msg.status.value
        cam.status_since = msg.since
        session.add(CameraEvent(camera_id=cam.id, at=msg.since, status=msg.status.value, detail=msg.detail or ""))
        if previous != "unknown" or msg.status.value != "ok":
            severity = {"ok": "info", "offline": "critical"}.get(msg.status.value, "warning")
            await alerter.raise_alert(
                session, "camera_status", cam.id,
                camera_status_message(cam.id, cam.name, previous, msg.status.value, cam.location or None),
                severity, detail=camera_status_detail(previous, msg.status.value, msg.detail),
                context={"camera": camera_context(cam)})
    return cam


def camera_context(cam: Camera) -> dict[str, object]:
    """What an alert receiver needs to know about the camera (webhook payload ``camera``)."""
    return {"id": cam.id, "name": cam.name, "node": cam.node_id, "zone": cam.zone, "location": cam.location or None,
            "status": cam.status}


async def check_offline_nodes(session: AsyncSession, alerter: Alerter, threshold_s: float,
                              at: datetime | None = None) -> int:
    """Alert once per outage for nodes offline longer than ``threshold_s``; returns alerts raised."""
    at = at or now()
    rows = (await session.scalars(select(Node).where(Node.state == "offline", Node.offline_alerted.is_(False)))).all()
    raised = 0
    for node in rows:
        if (at - node.state_since).total_seconds() >= threshold_s:
            node.offline_alerted = True
            minutes = (at - node.state_since).total_seconds() / 60
            cameras = (await session.scalars(select(Camera).where(Camera.node_id == node.id))).all()
            names = [camera_label(c.id, c.name) for c in cameras]
            await alerter.raise_alert(
                session, "node_offline", node.id,
                node_offline_message(node.id, node.kind, node.location or None, node.state_since, at, names),
                "critical", detail=f"offline {minutes:.1f} min since {node.state_since.isoformat(timespec='seconds')}",
                context={"node": {"id": node.id, "kind": node.kind, "zones": node.zones,
                                  "location": node.location or None, "since": node.state_since.isoformat()},
                         "cameras": [camera_context(c) for c in cameras]})
            raised += 1
    return raised
