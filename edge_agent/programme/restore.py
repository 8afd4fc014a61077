"""Start-up restore: one owner for everything that was accepted, due or playing when the node went down.

Runs while the job store is still paused, so nothing can fire twice:

1. Each run record (:mod:`edge_agent.programme.runs`):
   * ``done`` — the outcome was journalled but the restart came before it was carried out: the same
     ack is sent again and the bulletin finished (never played again);
   * ``playing`` — a restart cut the audio: ack ``interrupted`` (with the instant it had started),
     then replay it once or drop it, as :func:`edge_agent.programme.recovery.decide` says;
   * ``due`` — an occurrence (or a replay) that had fallen due and not started: queued again, or
     reported missed/expired (:func:`edge_agent.programme.recovery.decide_due`).
2. Each accepted bulletin not covered by a run record is admitted again
   (:meth:`edge_agent.programme.player.Player.admit` with ``restored=True``): queued, left to its
   job, or — a ``play_at`` whose job fell due while the node was down — taken over from the job
   store (the job removed, the item queued once, or expired beyond the grace).
3. The job store resumes (by the caller): series occurrences that fell due fire late once within the
   grace (``coalesce``), or are reported missed.

Returns a one-line summary the agent logs: what it restored and what it decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from edge_agent.programme.recovery import INTERRUPTED_REASON, Decision, Interruption, decide, decide_due
from edge_agent.programme.runs import Run
from loaxa_contract import codec
from loaxa_contract.models import Ack, AckStage, BulletinCommand

if TYPE_CHECKING:
    from edge_agent.programme.player import Player

logger = logging.getLogger(__name__)


async def restore(player: Player) -> str:
    counts: Counter[str] = Counter()
    owned: set[str] = set()  # one-off bulletins whose fate a run record decided
    for run in await asyncio.to_thread(player.runs.all):
        cmd = player.store.get(run.bulletin_id)
        if cmd is None:  # finished or cancelled; only the record was left
            await asyncio.to_thread(player.runs.remove, run)
            continue
        player.known.add(cmd.bulletin_id)
        if not run.occurrence:
            owned.add(cmd.bulletin_id)
        if run.state == "done":
            await _done(player, cmd, run, counts)
        elif run.state == "playing":
            await _interrupted(player, cmd, run, counts)
        else:
            await _due(player, cmd, run, counts)
    held = player.store.all()
    for cmd in held:
        player.known.add(cmd.bulletin_id)
    for cmd in held:
        if cmd.bulletin_id not in owned:
            counts[await player.admit(cmd, restored=True)] += 1
    return _summary(len(held), counts)


def _timed(cmd: BulletinCommand, run: Run) -> bool:
    return bool(run.occurrence) or cmd.play_at is not None


async def _done(player: Player, cmd: BulletinCommand, run: Run, counts: Counter[str]) -> None:
    """The outcome was decided and journalled; the restart came before it was fully carried out."""
    counts["outcome re-sent"] += 1
    if run.ack:
        await player.acks.send(codec.decode_model(run.ack.encode(), Ack))  # the very same ack (same ts)
    await player.finish(cmd.bulletin_id)
    await asyncio.to_thread(player.runs.remove, run)


async def _interrupted(player: Player, cmd: BulletinCommand, run: Run, counts: Counter[str]) -> None:
    now = player.clock()
    started = run.started_at or now
    verdict = decide(Interruption(cmd.priority.rank, _timed(cmd, run), started, cmd.expires_at, run.replays),
                     now, player.grace)
    occurrence = datetime.fromisoformat(run.occurrence) if run.occurrence else None
    logger.warning("bulletin %s%s was playing when the node went down (started %s): %s", cmd.bulletin_id,
                   f" occurrence {run.occurrence}" if run.occurrence else "", started.isoformat(), verdict.detail)
    await player.acks.ack(run.command_id, AckStage.INTERRUPTED, bulletin_id=cmd.bulletin_id,
                          reason=INTERRUPTED_REASON, started_at=started, occurrence=occurrence,
                          detail=f"playback started {started.isoformat()} was cut by a restart (power cut, crash "
                                 f"or stop); {verdict.detail}")
    if verdict.replay:
        counts["interrupted, replayed"] += 1
        await _requeue(player, cmd, Run(run.bulletin_id, run.command_id, run.occurrence, "due", started,
                                        run.replays + 1))
    else:
        counts["interrupted, dropped"] += 1
        await _drop(player, cmd, run, verdict)


async def _due(player: Player, cmd: BulletinCommand, run: Run, counts: Counter[str]) -> None:
    occurrence = datetime.fromisoformat(run.occurrence) if run.occurrence else None
    scheduled = occurrence or (run.started_at if cmd.play_at is not None else None)
    verdict = decide_due(rank=cmd.priority.rank, scheduled_at=scheduled, expires_at=cmd.expires_at,
                         now=player.clock(), grace=player.grace)
    if verdict.replay:
        counts["due, queued"] += 1
        await _requeue(player, cmd, run)
    else:
        counts["due, expired"] += 1
        await _drop(player, cmd, run, verdict)


async def _requeue(player: Player, cmd: BulletinCommand, run: Run) -> None:
    await asyncio.to_thread(player.runs.put, run)
    start = datetime.fromisoformat(run.occurrence) if run.occurrence else cmd.play_at
    player.enqueue(player.item_for(cmd, start_at=start, timed=_timed(cmd, run), occurrence=run.occurrence,
                                   replays=run.replays))


async def _drop(player: Player, cmd: BulletinCommand, run: Run, verdict: Decision) -> None:
    stage = AckStage.FAILED if verdict.stage == "failed" else AckStage.EXPIRED
    # finishes the bulletin, unless a series goes on with its next occurrence
    await player.conclude_bulletin(cmd, stage, run.occurrence, reason=verdict.reason, detail=verdict.detail)


def _summary(held: int, counts: Counter[str]) -> str:
    if not held and not counts:
        return "nothing held"
    detail = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    return f"{held} bulletin(s) held; {detail or 'nothing to do'}"
