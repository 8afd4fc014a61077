"""Plays bulletins one after another: render → wait for ``play_at`` → play → ack each stage.

Idempotent by bulletin id: a bulletin delivered twice (QoS 1 duplicate, or re-sent by HQ after a
reconnect) is played once; the ids of finished bulletins are persisted so a restart does not replay
them. Cancel removes a queued bulletin or stops the one playing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from edge_agent.acks import AckReporter
from edge_agent.persist import atomic_write_json, read_json
from edge_agent.playback.sinks import AudioSink
from loaxa_contract.models import AckStage, BulletinCommand, utcnow
from loaxa_speech.tts.engines.base import SpeechRequest, TtsEngine, TtsError

logger = logging.getLogger(__name__)

MAX_REMEMBERED = 2000


@dataclass
class _Item:
    command: BulletinCommand


class Player:
    def __init__(self, *, engine: TtsEngine, sink: AudioSink, acks: AckReporter, state_dir: Path,
                 voice: str, rate_wpm: int) -> None:
        self.engine = engine
        self.sink = sink
        self.acks = acks
        self.voice = voice
        self.rate_wpm = rate_wpm
        self._done_path = state_dir / "bulletins_done.json"
        self._done: list[str] = read_json(self._done_path, [])
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._known: dict[str, _Item] = {}
        self._cancelled: set[str] = set()
        self._current: tuple[str, asyncio.Task[None]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="player")

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    @property
    def queue_length(self) -> int:
        return self._queue.qsize()

    @property
    def playing(self) -> str | None:
        return self._current[0] if self._current else None

    async def submit(self, command: BulletinCommand) -> None:
        bid = command.bulletin_id
        if bid in self._known or bid in self._done:
            logger.info("bulletin %s already handled; duplicate delivery ignored", bid)
            return
        item = _Item(command)
        self._known[bid] = item  # before any await: a concurrent duplicate must see it
        await self.acks.ack(command.id, AckStage.RECEIVED, bulletin_id=bid)
        await self._queue.put(item)

    async def cancel(self, command_id: str, bulletin_id: str) -> bool:
        """Stop ``bulletin_id`` if playing, drop it if queued; True if there was something to cancel."""
        if self._current and self._current[0] == bulletin_id:
            self._current[1].cancel()
            return True
        if bulletin_id in self._known:
            self._cancelled.add(bulletin_id)
            return True
        return False

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            bid = item.command.bulletin_id
            task = asyncio.get_running_loop().create_task(self._play(item), name=f"bulletin:{bid}")
            self._current = (bid, task)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():  # the worker itself is being stopped
                    task.cancel()
                    raise
            except Exception:
                logger.exception("bulletin %s crashed the player; continuing", bid)
            finally:
                self._current = None
                self._known.pop(bid, None)
                self._remember(bid)

    async def _play(self, item: _Item) -> None:
        cmd = item.command
        bid = cmd.bulletin_id
        try:
            if bid in self._cancelled:
                self._cancelled.discard(bid)
                await self.acks.ack(cmd.id, AckStage.CANCELLED, bulletin_id=bid, reason="cancelled_by_hq")
                return
            if cmd.expires_at <= utcnow():
                await self.acks.ack(cmd.id, AckStage.EXPIRED, bulletin_id=bid, reason="expired_before_play",
                                    detail=f"expired at {cmd.expires_at.isoformat()}")
                return
            try:
                speech = await asyncio.to_thread(self.engine.synthesize, SpeechRequest(
                    cmd.text, voice=cmd.voice or self.voice, rate_wpm=cmd.rate or self.rate_wpm))
            except TtsError as err:
                await self.acks.ack(cmd.id, AckStage.FAILED, bulletin_id=bid, reason="tts_failed", detail=str(err))
                return
            await self.acks.ack(cmd.id, AckStage.RENDERED, bulletin_id=bid, detail=speech.engine)
            if cmd.play_at is not None:
                await self.acks.ack(cmd.id, AckStage.SCHEDULED, bulletin_id=bid, detail=cmd.play_at.isoformat())
                delay = (cmd.play_at - utcnow()).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self.acks.ack(cmd.id, AckStage.PLAYING, bulletin_id=bid)
            report = await self.sink.play(speech.audio, label=bid)
            await self.acks.ack(cmd.id, AckStage.PLAYED, bulletin_id=bid, started_at=report.started_at,
                                ended_at=report.ended_at, duration_s=round(report.duration_s, 3),
                                loudness_dbfs=round(report.loudness_dbfs, 1))
        except asyncio.CancelledError:
            await self.acks.ack(cmd.id, AckStage.CANCELLED, bulletin_id=bid, reason="cancelled_by_hq")
        except Exception as err:
            logger.exception("bulletin %s failed", bid)
            await self.acks.ack(cmd.id, AckStage.FAILED, bulletin_id=bid, reason="playback_error", detail=str(err))

    def _remember(self, bulletin_id: str) -> None:
        self._done.append(bulletin_id)
        del self._done[:-MAX_REMEMBERED]
        atomic_write_json(self._done_path, self._done)
