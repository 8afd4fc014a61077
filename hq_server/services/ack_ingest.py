"""Acks in batches: one transaction for a batch of acks, whatever their number.

Why batches? At 1 000 loudspeakers a broadcast brings ~5 000 acks within seconds; one transaction per ack
(a commit is an fsync on SQLite, a round trip on PostgreSQL) made HQ need 31 s to record a broadcast the
loudspeakers had finished long before. Here a batch costs a fixed handful of queries — the commands, the
senders, the bulletins and the deliveries it names, each loaded with one ``IN`` query — plus the changed
rows, and one commit.

The rules are the same as one ack at a time, in arrival order:

* trust (:mod:`hq_server.services.inbound`): the sender is the topic's node; an ack counts only for a
  command HQ sent, whose target reaches that node, and for that command's bulletin — otherwise it is
  refused (returned to the caller, which logs, counts and alerts);
* the delivery moves only forward (:mod:`hq_server.services.delivery`); a recurring bulletin's occurrence
  is its own row; a bulletin whose last open delivery closed gets its outcome
  (:mod:`hq_server.services.lifecycle`);
* acks of other commands (settings, snapshots, live views, zone membership, detection pictures) go to the
  handler registered for the command type, inside the batch's transaction.

Idempotent: the broker re-delivers what HQ had not acknowledged when it stopped, and applying an ack twice
changes nothing (transitions only move forward; occurrences are keyed). On PostgreSQL the deliveries of a
batch are locked (``FOR UPDATE``, in id order) so two HQ processes ingesting acks of the same delivery
apply them one after the other instead of overwriting each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services import occurrences
from hq_server.services.delivery import DeliveryState, apply_ack, bulletin_outcome, recurring_ack
from hq_server.services.fanout import NodeRow
from hq_server.services.inbound import InboundRefused, Refusal, command_reaches
from hq_server.services.lifecycle import BulletinEvent, BulletinState, transition
from hq_server.services.metrics import Metrics, observe_seconds
from hq_server.storage.tables import Bulletin, CommandLog, Delivery, Node, now
from loaxa_contract.models import Ack, AckStage

logger = logging.getLogger(__name__)

AckHandler = Callable[[AsyncSession, CommandLog, Ack], Awaitable[None]]
DELIVERIES = Delivery.__table__
RECEIVED_TRACKED = 200_000
"""Deliveries whose ``received`` time is kept for the received → played histogram (oldest dropped first)."""


def acked_command(cmd: CommandLog | None, node_id: str, node: NodeRow | None, ack: Ack) -> CommandLog:
    """The command HQ sent that ``ack`` is about, if it reached ``node_id``; else :class:`InboundRefused`."""
    if cmd is None:
        raise InboundRefused(Refusal.UNKNOWN_COMMAND, node_id, f"ack {ack.stage.value} of command "
                             f"{ack.command_id!r}, which HQ has no record of sending")
    if not command_reaches(cmd.target, node_id, list(node.zones or []) if node is not None else []):
        raise InboundRefused(Refusal.NOT_TARGETED, node_id, f"ack {ack.stage.value} of command {cmd.id} "
                             f"sent to {cmd.target}, which does not include this node")
    if ack.bulletin_id is not None and ack.bulletin_id != cmd.bulletin_id:
        raise InboundRefused(Refusal.BULLETIN_MISMATCH, node_id, f"ack of command {cmd.id} names bulletin "
                             f"{ack.bulletin_id!r}; the command carried {cmd.bulletin_id!r}")
    return cmd


@dataclass
class Row:
    """A delivery as the batch sees it: Core columns, not an ORM object (a batch touches hundreds; the ORM's
    identity map and unit of work cost more than the database does). ``changes`` is written back with one
    executemany per shape of change."""

    id: int | None
    bulletin_id: str
    node_id: str
    state: str
    last_sent_at: datetime | None
    changes: dict[str, object] = field(default_factory=dict)
    new: Delivery | None = None
    """A delivery HQ did not have (a node reached through its zone, unknown at send time): added via the ORM."""


@dataclass
class Loaded:
    """What a batch refers to, loaded with one query per table."""

    commands: dict[str, CommandLog]
    nodes: dict[str, NodeRow]
    bulletins: dict[str, Bulletin] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], Row] = field(default_factory=dict)


class AckIngester:
    def __init__(self, metrics: Metrics, handlers: dict[str, AckHandler]) -> None:
        self.metrics = metrics
        self.handlers = handlers
        """Command type → handler of its acks (settings, snapshots, …), shared with the orchestrator."""
        self._received_at: dict[tuple[str, str], float] = {}  # (bulletin, node) → monotonic, received → played

    async def ingest(self, session: AsyncSession, batch: Sequence[tuple[str, Ack]]) -> list[InboundRefused | None]:
        """Apply ``batch`` of (sender node, ack) in ``session``; the caller commits. Per ack: None or its refusal."""
        loaded = await self._load(session, batch)
        results: list[InboundRefused | None] = []
        bulletin_acks: list[tuple[str, Ack, CommandLog]] = []
        for node_id, ack in batch:
            try:
                cmd = acked_command(loaded.commands.get(ack.command_id), node_id, loaded.nodes.get(node_id), ack)
            except InboundRefused as refused:
                results.append(refused)
                continue
            results.append(None)
            if cmd.type == "bulletin":
                bulletin_acks.append((node_id, ack, cmd))
            elif (handler := self.handlers.get(cmd.type)) is not None:
                await handler(session, cmd, ack)  # acks of cancel/ping say nothing about a delivery
        if bulletin_acks:
            await self._deliveries(session, loaded, bulletin_acks)
        for _, ack in batch:
            self.metrics.inc("loaxa_hq_acks_total", stage=ack.stage.value)
        return results

    async def _load(self, session: AsyncSession, batch: Sequence[tuple[str, Ack]]) -> Loaded:
        ids = sorted({ack.command_id for _, ack in batch})
        senders = sorted({node for node, _ in batch})
        commands = {c.id: c for c in (await session.scalars(select(CommandLog).where(CommandLog.id.in_(ids)))).all()}
        n = Node.__table__.c
        nodes = {i: NodeRow(i, tuple(z or ()), k) for i, z, k in (await session.execute(
            select(n.id, n.zones, n.kind).where(n.id.in_(senders)))).all()}
        return Loaded(commands, nodes)

    async def _deliveries(self, session: AsyncSession, loaded: Loaded,
                          acks: list[tuple[str, Ack, CommandLog]]) -> None:
        bulletin_ids = sorted({cmd.bulletin_id for _, _, cmd in acks if cmd.bulletin_id})
        node_ids = sorted({node for node, _, _ in acks})
        loaded.bulletins = {b.id: b for b in (await session.scalars(
            select(Bulletin).where(Bulletin.id.in_(bulletin_ids)))).all()}
        d = DELIVERIES.c
        rows = (await session.execute(select(d.id, d.bulletin_id, d.node_id, d.state, d.last_sent_at).where(
            d.bulletin_id.in_(bulletin_ids), d.node_id.in_(node_ids)).order_by(d.id).with_for_update())).all()
        loaded.deliveries = {(r.bulletin_id, r.node_id): Row(*r) for r in rows}
        closed: set[str] = set()
        for node_id, ack, cmd in acks:
            b = loaded.bulletins.get(cmd.bulletin_id or "")
            if b is not None and await self._apply(session, loaded, b, cmd, node_id, ack):
                closed.add(b.id)
        await _write(session, loaded.deliveries.values())
        if closed:
            await finish_closed(session, [loaded.bulletins[b] for b in sorted(closed)])

    async def _apply(self, session: AsyncSession, loaded: Loaded, b: Bulletin, cmd: CommandLog, node_id: str,
                     ack: Ack) -> bool:
        """One ack on its delivery; True when it closed the delivery."""
        row = loaded.deliveries.get((b.id, node_id))
        if row is None:
            node = loaded.nodes.get(node_id)
            if node is not None and node.kind == "camera":
                logger.info("ack %s of %s from camera-only node %s not tracked (%s)", ack.stage.value, b.id, node_id,
                            ack.reason or "-")
                return False
            # the command reached it (its zone or `all`) but HQ did not know it at send time
            new = Delivery(bulletin_id=b.id, node_id=node_id, state="pending", command_id=ack.command_id, attempts=1)
            session.add(new)
            row = loaded.deliveries[(b.id, node_id)] = Row(None, b.id, node_id, "pending", None, new=new)
        if b.recurrence:
            outdated = b.state == BulletinState.ACTIVE and cmd.expires_at < b.expires_at  # renewed since
            step, occurrence_state = recurring_ack(DeliveryState(row.state), ack.stage, ack.reason,
                                                     names_occurrence=ack.occurrence is not None,
                                                     outdated_copy=outdated)
            if occurrence_state is not None:
                await occurrences.record(session, b.id, ack, occurrence_state)
        else:
            step = apply_ack(DeliveryState(row.state), ack.stage, ack.reason)
        if not step.changed:
            return False
        if b.recurrence and step.state.terminal:
            why = step.reason or ack.detail or ack.reason or ack.stage.value
            await occurrences.close_open(session, b.id, node_id, why)
        row.state = step.state.value
        row.changes.update(state=row.state, updated_at=now(), reason=step.reason or (
            ack.detail[:200] if ack.detail and step.state.terminal and step.state != DeliveryState.PLAYED else None))
        if ack.stage == AckStage.PLAYED:
            row.changes.update(started_at=ack.started_at, ended_at=ack.ended_at, duration_s=ack.duration_s)
        self._observe(b.id, row, ack)
        return step.state.terminal

    def _observe(self, bulletin_id: str, row: Row, ack: Ack) -> None:
        """Fan-out histograms: sent → received, received → played (a delivery's state just changed)."""
        key = (bulletin_id, row.node_id)
        if ack.stage == AckStage.RECEIVED:
            if row.last_sent_at is not None:
                observe_seconds(self.metrics.sent_to_received, (now() - row.last_sent_at).total_seconds())
            self._received_at[key] = time.monotonic()
            if len(self._received_at) > RECEIVED_TRACKED:  # bounded: a node that never plays must not leak
                self._received_at.pop(next(iter(self._received_at)))
        elif ack.stage == AckStage.PLAYED and key in self._received_at:
            observe_seconds(self.metrics.received_to_played, time.monotonic() - self._received_at.pop(key))


async def _write(session: AsyncSession, rows: Iterable[Row]) -> None:
    """The batch's changes: new deliveries through the ORM (flushed), the rest one executemany per shape."""
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in rows:
        if row.new is not None:
            for key, value in row.changes.items():
                setattr(row.new, key, value)
        elif row.changes:
            shapes.setdefault(tuple(sorted(row.changes)), []).append({"_id": row.id, **row.changes})
    await session.flush()
    d = DELIVERIES.c
    for keys, params in shapes.items():
        stmt = update(DELIVERIES).where(d.id == bindparam("_id")).values({k: bindparam(k) for k in keys})
        await session.execute(stmt, params)


async def finish_closed(session: AsyncSession, bulletins: list[Bulletin]) -> list[str]:
    """Active bulletins whose every delivery is now closed get their outcome (one grouped query for all).

    On PostgreSQL the bulletins' rows are locked (in id order) before their deliveries are counted: two HQ
    processes closing a bulletin's last deliveries at the same moment each saw the other's still open (not
    yet committed), and neither finished it. With the lock the second counts after the first committed.
    """
    active = [b for b in bulletins if b.state == BulletinState.ACTIVE.value]
    if not active:
        return []
    await session.execute(select(Bulletin.id).where(Bulletin.id.in_(sorted(b.id for b in active)))
                          .order_by(Bulletin.id).with_for_update())
    counts = (await session.execute(select(Delivery.bulletin_id, Delivery.state, func.count()).where(
        Delivery.bulletin_id.in_([b.id for b in active])).group_by(Delivery.bulletin_id, Delivery.state))).all()
    states: dict[str, list[DeliveryState]] = {}
    for bulletin_id, state, n in counts:
        states.setdefault(bulletin_id, []).extend([DeliveryState(state)] * n)
    finished, t = [], now()
    for b in active:
        mine = states.get(b.id, [])
        if not mine or not all(s.terminal for s in mine):
            continue
        outcome = bulletin_outcome(mine)
        state = transition(BulletinState.ACTIVE, BulletinEvent.ALL_CLOSED, outcome=BulletinState(outcome.state)).state
        # conditional: a cancel committed meanwhile (another process) wins
        result = await session.execute(update(Bulletin).where(Bulletin.id == b.id,
                                                              Bulletin.state == BulletinState.ACTIVE.value)
                                       .values(state=state.value, state_reason=outcome.reason, updated_at=t)
                                       .execution_options(synchronize_session=False))
        if result.rowcount:  # type: ignore[attr-defined]
            b.state, b.state_reason, b.updated_at = state.value, outcome.reason, t
            finished.append(b.id)
    return finished
