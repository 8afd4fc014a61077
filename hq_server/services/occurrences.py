"""Occurrences of recurring bulletins: one row per (bulletin, node, local date), from the node's acks.

The node acks ``playing``/``played`` once per occurrence (``occurrence``: its scheduled instant) on the
same command id, and ``interrupted`` when a restart cut one (then ``played`` for its replay, or a drop);
HQ keys each by the local date (Asia/Ho_Chi_Minh) of ``occurrence`` (older nodes: ``started_at``, else
the ack's time), because a recurrence plays at most once a day (its ``at`` is one time of day). Decisions are pure
(:func:`hq_server.services.delivery.recurring_ack`); this module only stores them.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services.delivery import (
    INTERRUPTED,
    INTERRUPTION_DROPS,
    OCCURRENCE_OPEN,
    REPLAYED,
    occurrence_advances,
    occurrence_closed_reason,
)
from hq_server.storage.tables import Occurrence, now
from loaxa_contract.models import Ack, AckStage

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def occurrence_key(ack: Ack) -> str:
    """The node names the occurrence (its scheduled instant); older nodes: when it started, else the ack."""
    return (ack.occurrence or ack.started_at or ack.ts).astimezone(LOCAL).date().isoformat()


async def record(session: AsyncSession, bulletin_id: str, ack: Ack, state: str) -> Occurrence:
    key = occurrence_key(ack)
    row = await session.scalar(select(Occurrence).where(Occurrence.bulletin_id == bulletin_id,
                                                        Occurrence.node_id == ack.node, Occurrence.occurrence == key))
    if row is None:
        row = Occurrence(bulletin_id=bulletin_id, node_id=ack.node, occurrence=key, state=state,
                         command_id=ack.command_id)
        session.add(row)
    elif not occurrence_advances(row.state, state):
        return row
    interrupted = row.state == "interrupted"
    row.state, row.command_id, row.updated_at = state, ack.command_id, now()
    if ack.stage == AckStage.PLAYED:
        row.started_at, row.ended_at, row.duration_s = ack.started_at, ack.ended_at, ack.duration_s
        row.reason = REPLAYED if interrupted else None
    elif ack.stage == AckStage.INTERRUPTED:
        row.reason = INTERRUPTED
    elif ack.stage in (AckStage.EXPIRED, AckStage.FAILED):
        row.reason = (ack.reason if ack.reason in INTERRUPTION_DROPS else ack.detail or ack.reason or "")[:200]
    return row


async def close_open(session: AsyncSession, bulletin_id: str, node_id: str, delivery_reason: str | None) -> int:
    """The series' delivery to ``node_id`` ended: its occurrences still open become ``missed`` with a
    reason (a later ``played`` ack still wins). Returns how many were closed."""
    result = await session.execute(
        update(Occurrence).where(Occurrence.bulletin_id == bulletin_id, Occurrence.node_id == node_id,
                                 Occurrence.state.in_(OCCURRENCE_OPEN))
        .values(state="missed", reason=occurrence_closed_reason(delivery_reason), updated_at=now())
        .execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


async def played_by_node(session: AsyncSession, bulletin_id: str) -> dict[str, int]:
    rows = (await session.execute(select(Occurrence.node_id, func.count()).where(
        Occurrence.bulletin_id == bulletin_id, Occurrence.state == "played").group_by(Occurrence.node_id))).all()
    return {node: count for node, count in rows}


def occurrence_json(o: Occurrence) -> dict[str, Any]:
    return {"node": o.node_id, "occurrence": o.occurrence, "state": o.state, "reason": o.reason,
            "command_id": o.command_id, "duration_s": o.duration_s,
            "started_at": o.started_at.isoformat() if o.started_at else None,
            "ended_at": o.ended_at.isoformat() if o.ended_at else None}
