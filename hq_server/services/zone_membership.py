"""Zone membership: HQ decides which zones each node belongs to and pushes it as a signed ``set_zones``.

Why? Assigning a node to another village at HQ used to change only HQ's record: the node kept listening to
the zones of its own configuration, the next bulletin to its new zone never reached it, and its next state
message put HQ's record back. Now:

* A node's configured zones are its **claim**, taken while HQ has not assigned it (``zones_assigned``).
* ``PUT /api/v1/nodes/{id}`` with ``zones`` makes HQ's list authoritative: :meth:`ZoneMembership.assign`
  runs the membership hooks (the broker's ACL must let the node read the new zones' command topics
  before the node subscribes), then sends ``set_zones`` on ``node/{id}/cmd``. The node persists it,
  re-subscribes and reports the new zones in its retained state (edge ``control/membership.py``).
* Tracked like programme/volume (:mod:`hq_server.services.node_settings` is the model), as a
  ``node_settings`` row of kind ``zones``: ``sent → applied`` on the node's ``played`` ack, ``failed`` with
  the ack's reason. When the node comes online, an assignment it has not applied, or one its reported
  zones contradict (state wiped, configuration changed on the pole), is sent again.
* Once applied, the active bulletins its new zones are targeted by and that it has not received are sent
  to it (:meth:`Orchestrator.send_to_joined`): one sent to the zone topic just before it subscribed would
  otherwise never reach it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services.orchestrator import Orchestrator
from hq_server.storage.tables import CommandLog, Node, NodeSetting, now
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

KIND = "zones"
COMMAND = "set_zones"
FAILED_STAGES = (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED)

MembershipHook = Callable[[str, list[str]], Awaitable[None]]
"""Called with (node id, its new zones) before the node is told, e.g. to re-sync the broker's ACL."""


class ZoneMembership:
    def __init__(self, orch: Orchestrator, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self.orch = orch
        self.sessions = sessions
        self.ttl_s = ttl_s
        self.hooks: list[MembershipHook] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        orch.ack_handlers[COMMAND] = self.on_ack
        orch.online_hooks.append(self.on_online)

    async def assign(self, node_id: str, zones: list[str]) -> None:
        """HQ's record already says ``zones`` (committed by the caller): make the broker and the node follow."""
        for hook in self.hooks:
            await hook(node_id, zones)
        await self.sync([node_id])

    async def sync(self, node_ids: list[str], *, force: bool = False) -> int:
        """Send ``set_zones`` to each assigned node that has not applied exactly its zones (or always, ``force``).

        The row and the command log are committed before publishing: the node's ack comes back at once.
        """
        outgoing: list[tuple[str, dict[str, Any]]] = []
        async with self._lock:
            async with self.sessions() as session:
                for node_id in node_ids:
                    node = await session.get(Node, node_id)
                    if node is None or not node.zones_assigned:
                        continue
                    value = {"zones": list(node.zones or [])}
                    row = await session.get(NodeSetting, (node_id, KIND))
                    if row is None:
                        row = NodeSetting(node_id=node_id, kind=KIND, state="pending", attempts=0)
                        session.add(row)
                    elif row.value == value and row.state == "applied" and not force:
                        continue
                    wire = self.orch.log_command(session, COMMAND, f"node:{node_id}", self.ttl_s, **value)
                    row.value, row.source, row.command_id = value, "hq", wire["id"]
                    row.state, row.reason, row.sent_at, row.applied_at = "sent", None, now(), None
                    row.attempts += 1
                    outgoing.append((node_id, wire))
                await session.commit()
            return await self._publish(outgoing)

    async def _publish(self, outgoing: list[tuple[str, dict[str, Any]]]) -> int:
        sent = 0
        for node_id, wire in outgoing:
            try:
                await self.orch.publish_wire(wire)
                sent += 1
                logger.info("zones %s sent to %s", ",".join(wire["zones"]) or "-", node_id)
            except LinkError as err:
                logger.warning("zones for %s not sent: %s", node_id, err)
                async with self.sessions() as session:
                    row = await session.get(NodeSetting, (node_id, KIND))
                    if row is not None and row.command_id == wire["id"] and row.state == "sent":
                        row.state, row.reason = "pending", f"broker unavailable: {err}"[:200]
                    await session.commit()
        return sent

    async def on_online(self, node_ids: Sequence[str]) -> None:
        """Nodes (re)connected: send an assignment a node has not applied, or one its state contradicts."""
        async with self.sessions() as session:
            assigned = (await session.scalars(select(Node).where(Node.id.in_(sorted(set(node_ids))),
                                                                 Node.zones_assigned.is_(True)))).all()
            drifted = [n.id for n in assigned
                       if n.reported_zones is not None and list(n.reported_zones) != list(n.zones or [])]
            for n in assigned:
                if n.id in drifted:
                    logger.info("node %s reports zones %s but HQ assigned %s; re-sending", n.id, n.reported_zones,
                                n.zones)
            steady = [n.id for n in assigned if n.id not in drifted]
        if drifted:
            await self.sync(drifted, force=True)
        if steady:
            await self.sync(steady)

    async def on_ack(self, session: AsyncSession, cmd: CommandLog, ack: Ack) -> None:
        row = await session.get(NodeSetting, (ack.node, KIND))
        if row is None or row.command_id != cmd.id:
            return  # an ack of a superseded assignment
        if ack.stage == AckStage.PLAYED:
            row.state, row.reason, row.applied_at = "applied", ack.detail, now()
            task = asyncio.get_running_loop().create_task(self._catch_up(ack.node), name=f"zones-joined:{ack.node}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif ack.stage in FAILED_STAGES:
            row.state = "failed"
            row.reason = f"{ack.stage.value}: {ack.reason or ''} {ack.detail or ''}".strip()[:200]

    async def _catch_up(self, node_id: str) -> None:
        try:
            sent = await self.orch.send_to_joined(node_id)
        except Exception:  # the node still gets them on its next reconnect (reconcile)
            logger.exception("bulletins for %s's new zones not sent", node_id)
            return
        if sent:
            logger.info("node %s joined zones: %d active bulletin(s) sent to it", node_id, sent)
