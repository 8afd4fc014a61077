"""Programme (``set_program_schedule``) and volume (``set_volume``) per zone or node; HQ is the source of truth.

Desired values live in ``desired_settings`` (scope zone or node). A node's effective value is its own,
else that of the first of its zones that has one. Each node gets its own signed command on
``node/{id}/cmd`` (a zone-wide topic would overwrite nodes with their own value), tracked in
``node_settings``: ``pending → sent → applied`` (the node acks ``played``) or ``failed`` (rejected /
failed / expired, with the reason).

Reconcile (docs/speaker-node.md): when a node comes online, everything not ``applied`` is sent again;
on its reconnect health report (``bulletins`` set), an applied programme whose id differs from the
node's ``programme_id``, or an applied volume different from the node's ``volume``, is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services import fleet
from hq_server.services.orchestrator import Orchestrator
from hq_server.storage.tables import CommandLog, DesiredSetting, Node, NodeSetting, now
from loaxa_contract.models import Ack, AckStage, NodeHealth
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

KINDS = ("programme", "volume")
COMMAND_TYPE = {"programme": "set_program_schedule", "volume": "set_volume"}
KIND_OF = {v: k for k, v in COMMAND_TYPE.items()}
FAILED_STAGES = (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED)


class NodeSettings:
    def __init__(self, orch: Orchestrator, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self.orch = orch
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._lock = asyncio.Lock()
        for command_type in COMMAND_TYPE.values():
            orch.ack_handlers[command_type] = self.on_ack
        orch.online_hooks.append(self.on_online)
        orch.reconnect_hooks.append(self.on_reconnect)

    # ------------------------------------------------------------------ desired state

    @staticmethod
    async def effective(session: AsyncSession, node: Node) -> dict[str, tuple[dict[str, Any], str]]:
        """kind → (value, source) for ``node``: its own value, else its first zone's that has one, else the
        commune-wide default (scope ``all``, set by an administrator)."""
        rows = (await session.scalars(select(DesiredSetting).where(
            ((DesiredSetting.scope == "node") & (DesiredSetting.scope_id == node.id))
            | ((DesiredSetting.scope == "zone") & DesiredSetting.scope_id.in_(node.zones or []))
            | (DesiredSetting.scope == "all")))).all()
        return effective_of(rows, node)

    async def set_desired(self, scope: str, scope_id: str, kind: str, value: dict[str, Any], user: str) -> list[str]:
        """Store a desired value and push it to the nodes it affects; returns their ids."""
        async with self.sessions() as session:
            row = await session.scalar(select(DesiredSetting).where(
                DesiredSetting.scope == scope, DesiredSetting.scope_id == scope_id, DesiredSetting.kind == kind))
            if row is None:
                row = DesiredSetting(scope=scope, scope_id=scope_id, kind=kind)
                session.add(row)
            row.value, row.updated_by, row.updated_at = value, user, now()
            await session.commit()
            nodes = (await session.scalars(select(Node))).all()
            affected = [n.id for n in nodes if (scope == "node" and n.id == scope_id)
                        or (scope == "zone" and scope_id in (n.zones or []))
                        or (scope == "all" and n.kind != "camera")]
        await self.sync(affected)
        return affected

    # ------------------------------------------------------------------ sending

    async def sync(self, node_ids: list[str], *, force: set[str] | None = None) -> int:
        """Send each node's effective value unless it already applied exactly that (or ``force`` names the kind).

        Rows and command log are committed before publishing: the node's ``played`` ack comes back within
        milliseconds and must find its command.
        """
        outgoing: list[tuple[str, str, dict[str, Any]]] = []
        async with self._lock:
            async with self.sessions() as session:
                desired = (await session.scalars(select(DesiredSetting))).all()  # a handful of rows
                if not desired:
                    return 0  # nothing configured, nothing to send (the common case in a reconnect storm)
                loaded = await fleet.load_nodes(session, set(node_ids))
                for node_id in node_ids:
                    node = await session.get(Node, node_id)
                    if node is None:
                        continue
                    for kind, (value, source) in effective_of(desired, node).items():
                        row = await session.get(NodeSetting, (node_id, kind))
                        if row is None:
                            row = NodeSetting(node_id=node_id, kind=kind, state="pending", attempts=0)
                            session.add(row)
                        elif row.value == value and row.state == "applied" and kind not in (force or set()):
                            continue
                        wire = self.orch.log_command(session, COMMAND_TYPE[kind], f"node:{node_id}", self.ttl_s,
                                                     **value)
                        row.value, row.source, row.command_id = value, source, wire["id"]
                        row.state, row.reason, row.sent_at, row.applied_at = "sent", None, now(), None
                        row.attempts += 1
                        outgoing.append((node_id, kind, wire))
                await session.commit()
                del loaded
            return await self._publish(outgoing)

    async def _publish(self, outgoing: list[tuple[str, str, dict[str, Any]]]) -> int:
        sent, failed = 0, []
        for node_id, kind, wire in outgoing:
            try:
                await self.orch.publish_wire(wire)
                sent += 1
            except LinkError as err:
                logger.warning("%s for %s not sent: %s", kind, node_id, err)
                failed.append((node_id, kind, wire["id"], f"broker unavailable: {err}"[:200]))
        if failed:
            async with self.sessions() as session:
                for node_id, kind, command_id, reason in failed:
                    row = await session.get(NodeSetting, (node_id, kind))
                    if row is not None and row.command_id == command_id and row.state == "sent":
                        row.state, row.reason, row.attempts = "pending", reason, max(0, row.attempts - 1)
                await session.commit()
        return sent

    async def on_online(self, node_ids: Sequence[str]) -> None:
        if sent := await self.sync(list(node_ids)):
            logger.info("%d programme/volume setting(s) re-sent to node(s) back online (%s)", sent,
                        ", ".join(node_ids[:5]) + (" …" if len(node_ids) > 5 else ""))

    async def on_reconnect(self, reports: Sequence[NodeHealth]) -> None:
        """Nodes that reconnected: re-send a programme or volume a node no longer has (a node restored from
        an old backup, a volume changed on the pole). One query for the batch: after a broker restart the
        whole fleet reports at once."""
        by_node = {h.node: h for h in reports}
        drifted: dict[str, set[str]] = {}
        async with self.sessions() as session:
            rows = (await session.scalars(select(NodeSetting).where(NodeSetting.node_id.in_(by_node),
                                                                    NodeSetting.state == "applied"))).all()
        for row in rows:
            health = by_node[row.node_id]
            if row.kind == "programme" and health.programme_id != row.command_id:
                drifted.setdefault(row.node_id, set()).add("programme")
            if row.kind == "volume" and health.volume is not None and health.volume != row.value.get("volume"):
                drifted.setdefault(row.node_id, set()).add("volume")
        for node, force in sorted(drifted.items()):
            logger.info("node %s drifted from HQ (%s); re-sending", node, ", ".join(sorted(force)))
            await self.sync([node], force=force)

    async def on_ack(self, session: AsyncSession, cmd: CommandLog, ack: Ack) -> None:
        row = await session.get(NodeSetting, (ack.node, KIND_OF[cmd.type]))
        if row is None or row.command_id != cmd.id:
            return  # an ack of a superseded command
        if ack.stage == AckStage.PLAYED:
            row.state, row.reason, row.applied_at = "applied", ack.detail, now()
        elif ack.stage in FAILED_STAGES:
            row.state = "failed"
            row.reason = f"{ack.stage.value}: {ack.reason or ''} {ack.detail or ''}".strip()[:200]


def effective_of(rows: Sequence[DesiredSetting], node: Node) -> dict[str, tuple[dict[str, Any], str]]:
    """:meth:`NodeSettings.effective` from desired rows already loaded (rows of other nodes and zones are
    ignored), so many nodes are decided from one query."""
    zones = node.zones or []
    out: dict[str, tuple[dict[str, Any], str]] = {}
    for kind in KINDS:
        own = [r for r in rows if r.kind == kind and r.scope == "node" and r.scope_id == node.id]
        zoned = sorted((r for r in rows if r.kind == kind and r.scope == "zone" and r.scope_id in zones),
                       key=lambda r: zones.index(r.scope_id))
        commune = [r for r in rows if r.kind == kind and r.scope == "all"]
        pick = (own or zoned or commune or [None])[0]
        if pick is not None:
            out[kind] = (pick.value, f"{pick.scope}:{pick.scope_id}")
    return out


def setting_json(row: NodeSetting) -> dict[str, Any]:
    return {"node": row.node_id, "kind": row.kind, "value": row.value, "source": row.source, "state": row.state,
            "reason": row.reason, "command_id": row.command_id, "attempts": row.attempts,
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
            "applied_at": row.applied_at.isoformat() if row.applied_at else None}
