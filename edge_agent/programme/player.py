"""The programme runtime: admits bulletins, schedules them, plays them in policy order, acks every step.

Decisions are made by pure code (:mod:`edge_agent.programme.queue`, :mod:`edge_agent.programme.windows`); this module
owns the effects: rendering, the amplifier, the sink, the job store, the acks. One worker task plays
one item at a time; an emergency cancels the playing item, which is re-queued at its place (it will
start again from the beginning: a half-heard notice is worse than a repeated one). A programme task
holds the amplifier on through each programme window.

Audio is made ready when a bulletin is admitted, not at its start: HQ's rendering is downloaded and
verified (or the text synthesised) right after ``received``, and a timed bulletin's final WAV is
rendered then and kept on disk (:mod:`edge_agent.programme.readiness`,
:mod:`edge_agent.programme.ready_audio`). At the start instant only the warmed amplifier and the sink
are left; a play that was not ready renders then and reports how late it started.

Every play that falls due (a series occurrence) or starts (any bulletin) has a run record on disk
(:mod:`edge_agent.programme.runs`) until its outcome is acked, so a restart knows what it cut and
what was waiting; :mod:`edge_agent.programme.restore` decides it all at start-up, before the job
store may fire anything (one owner for work that fell due while the node was down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from edge_agent.control.acks import AckReporter
from edge_agent.playback.amplifier import Amplifier
from edge_agent.playback.sinks import AudioSink
from edge_agent.programme.fetch import FetchError
from edge_agent.programme.queue import PlayQueue, QueueItem, preempts
from edge_agent.programme.readiness import Readiness, check_start, describe_start, render_ahead
from edge_agent.programme.ready_audio import ReadyAudio, in_preparation_pool
from edge_agent.programme.render import Renderer
from edge_agent.programme.runs import Run, RunStore
from edge_agent.programme.scheduler import BulletinScheduler
from edge_agent.programme.store import BulletinStore
from edge_agent.programme.stream_relay import StreamRelay
from edge_agent.programme.windows import Programme
from loaxa_common.aio import cancel_all, wait_event
from loaxa_common.files import atomic_write_json, read_json
from loaxa_common.lifecycle import Supervised
from loaxa_contract import codec
from loaxa_contract.models import AckStage, BulletinCommand, SetProgramScheduleCommand, utcnow
from loaxa_speech.audio import AudioError
from loaxa_speech.tts.engines.base import TtsError

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

START_RECORDS_S = 0.5
"""Budget, before a timed start's warm-up, for writing its run record and ``playing`` ack (fsyncs)."""


async def sleep_until(target: datetime, clock: Clock = utcnow) -> None:
    """Coarse sleep, then yield-spin the last ~20 ms: starts within a few ms of ``target`` (node clock)."""
    while True:
        remaining = (target - clock()).total_seconds()
        if remaining <= 0:
            return
        await asyncio.sleep(remaining - 0.02 if remaining > 0.04 else 0)


class Player:
    def __init__(self, *, renderer: Renderer, sink: AudioSink, amplifier: Amplifier, acks: AckReporter,
                 store: BulletinStore, state_dir, programme: Programme, relay: StreamRelay, volume: int,
                 misfire_grace_s: float, lead_s: float, clock: Clock = utcnow) -> None:
        self.renderer = renderer
        self.sink = sink
        self.amplifier = amplifier
        self.acks = acks
        self.store = store
        self.runs = RunStore(state_dir)
        self.ready = ReadyAudio(state_dir / "cache" / "ready")
        self.relay = relay
        self.clock = clock
        self.grace = timedelta(seconds=misfire_grace_s)
        self.queue = PlayQueue(lead=timedelta(seconds=lead_s))
        self.scheduler: BulletinScheduler | None = None
        self._state_path = state_dir / "programme.json"
        saved = read_json(self._state_path, {})
        self.programme = (Programme.from_command(SetProgramScheduleCommand.model_validate(saved["programme"]))
                          if saved.get("programme") else programme)
        self.volume: int = saved.get("volume", volume)
        self.known: set[str] = set()
        self.current: QueueItem | None = None
        self._current_task: asyncio.Task[None] | None = None
        self._stop_reason: str | None = None
        self._wake = asyncio.Event()
        self._programme_changed = asyncio.Event()
        self._workers: list[Supervised] = []
        self._admissions: set[asyncio.Task[None]] = set()
        self._cancelling: set[str] = set()
        self.on_change: Callable[[], None] = lambda: None
        self.on_worker_crash: Callable[[str, BaseException, int], None] = lambda name, err, n: None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the supervised workers (a crashed worker is restarted and reported), then restore."""
        self._stop_reason = None
        self._workers = [Supervised("player", self._run, self._worker_crashed),
                         Supervised("programme", self._programme_loop, self._worker_crashed)]
        for worker in self._workers:
            worker.start()
        swept = await asyncio.to_thread(self.ready.sweep, self.store.ids())
        if swept:
            logger.info("removed %d rendered file(s) of bulletins no longer held", swept)
        from edge_agent.programme.restore import restore  # restore drives this class: imported late

        summary = await restore(self)
        if self.scheduler is not None:
            self.scheduler.resume()  # only now may jobs that fell due while the node was down fire
        logger.info("restored at start-up: %s", summary)

    async def stop(self) -> None:
        """Workers first (nothing new starts), then the playing item; it is recovered at the next start."""
        self._stop_reason = "stopping"
        playing = self._current_task
        errors = await cancel_all(list(self._admissions))  # they resume from the store at the next start
        for worker in self._workers:
            try:
                await worker.stop()
            except Exception as err:
                errors.append(err)
        errors += await cancel_all([playing])
        if errors:
            raise errors[0]

    def _worker_crashed(self, name: str, err: BaseException, restarts: int) -> None:
        self.on_worker_crash(name, err, restarts)

    @property
    def queue_length(self) -> int:
        return len(self.queue)

    @property
    def playing(self) -> str | None:
        return self.current.bulletin_id if self.current else None

    def held(self) -> list[str]:
        return self.store.ids()

    # ------------------------------------------------------------------ commands

    async def submit(self, cmd: BulletinCommand) -> None:
        bid = cmd.bulletin_id
        if bid in self.known or self.store.is_done(bid):
            logger.info("bulletin %s already handled; duplicate delivery ignored", bid)
            return
        self.known.add(bid)  # before any await: a concurrent duplicate must see it
        try:
            await asyncio.to_thread(self.store.put, cmd)  # durable first: "received" is a promise
        except BaseException:
            self.known.discard(bid)
            raise
        await self.acks.ack(cmd.id, AckStage.RECEIVED, bulletin_id=bid)
        # durable now: the broker may be acknowledged; rendering and scheduling continue in a task
        task = asyncio.get_running_loop().create_task(self._admit(cmd), name=f"admit:{bid}")
        self._admissions.add(task)
        task.add_done_callback(self._admission_done)

    def _admission_done(self, task: asyncio.Task[None]) -> None:
        self._admissions.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("admission %s failed", task.get_name(), exc_info=task.exception())

    async def renew(self, cmd: BulletinCommand) -> bool:
        """A later command for a recurring series this node holds extends its life; True if it did.

        HQ re-signs open-ended series before their command expires (same bulletin id, later ``expires_at``,
        same recurrence). The stored command is replaced, so every later occurrence carries the new expiry;
        the job keeps its schedule. Anything else with a known id stays a duplicate for :meth:`submit`.
        """
        held = self.store.get(cmd.bulletin_id)
        if (held is None or held.recurrence is None or cmd.recurrence != held.recurrence
                or cmd.expires_at <= held.expires_at):
            return False
        await asyncio.to_thread(self.store.put, cmd)
        logger.info("series %s renewed until %s", cmd.bulletin_id, cmd.expires_at.isoformat())
        await self.acks.ack(cmd.id, AckStage.SCHEDULED, bulletin_id=cmd.bulletin_id, reason="renewed",
                            detail=f"series valid until {cmd.expires_at.isoformat()}")
        return True

    async def cancel(self, bulletin_id: str) -> bool:
        """Stop ``bulletin_id`` everywhere: playing, queued, scheduled. True if there was something.

        Everything is taken out before the first await, and the id stays marked as being cancelled until
        the ``cancelled`` ack is out and the bulletin finished: an admission or a job resuming meanwhile
        must not queue it again (it would play after its ``cancelled`` ack).
        """
        self._cancelling.add(bulletin_id)
        try:
            cmd = self.store.get(bulletin_id)
            removed = self.queue.remove(bulletin_id)
            unscheduled = self.scheduler is not None and self.scheduler.remove(bulletin_id)
            playing = self.current is not None and self.current.bulletin_id == bulletin_id
            if playing and self._current_task is not None:
                self._stop_reason = "cancelled"
                self._current_task.cancel()  # _interrupted acks and finishes
            for item in removed:
                await self.conclude(item, AckStage.CANCELLED, reason="cancelled_by_hq")
            if not playing:
                if cmd is not None and not removed:
                    await self.conclude_bulletin(cmd, AckStage.CANCELLED, reason="cancelled_by_hq")
                await self.finish(bulletin_id)
        finally:
            self._cancelling.discard(bulletin_id)
        self.on_change()
        return bool(removed) or unscheduled or playing or cmd is not None

    def _withdrawn(self, bulletin_id: str) -> bool:
        """Cancelled (or being cancelled) while an admission awaited: it must not be queued or scheduled."""
        return bulletin_id not in self.known or bulletin_id in self._cancelling

    async def set_programme(self, cmd: SetProgramScheduleCommand) -> None:
        self.programme = Programme.from_command(cmd)
        await asyncio.to_thread(self._save_state, programme=cmd.model_dump(mode="json"))
        self._programme_changed.set()
        self._wake.set()

    def set_volume(self, volume: int) -> None:
        self.volume = volume
        self._save_state(volume=volume)
        self.on_change()

    def _save_state(self, **update: object) -> None:
        state = read_json(self._state_path, {})
        state.update(update)
        atomic_write_json(self._state_path, state)

    # ------------------------------------------------------------------ admission and scheduling

    def item_for(self, cmd: BulletinCommand, *, start_at: datetime | None, timed: bool, occurrence: str = "",
                 replays: int = 0) -> QueueItem:
        expires = cmd.expires_at
        if cmd.kind == "relay" and cmd.relay is not None:
            expires = min(expires, cmd.relay.end_at)
        return QueueItem(cmd.bulletin_id, cmd.id, cmd.priority.rank, cmd.seq, expires, start_at, timed, occurrence,
                         replays=replays)

    async def _admit(self, cmd: BulletinCommand) -> None:
        await self.admit(cmd)

    async def admit(self, cmd: BulletinCommand, *, restored: bool = False) -> str:
        """Prepare, then schedule or queue an accepted bulletin; what happened, for the restore log.

        ``restored``: at start-up, with the job store still paused. A ``play_at`` whose job fell due
        while the node was down is taken over here (its job removed, the item queued once), never
        left to fire late as well.
        """
        bid, now = cmd.bulletin_id, self.clock()
        if cmd.expires_at <= now:
            # dropped for real (a restored series' job too); a series may be renewed by HQ (same id, later
            # expiry), so its id is not remembered as done: the renewal is taken as a new copy
            if self.scheduler is not None:
                self.scheduler.remove(bid)
            await self.expire(cmd, "expired_before_play", f"expired at {cmd.expires_at.isoformat()}",
                              remember=cmd.recurrence is None)
            return "expired"
        if cmd.kind != "relay" and not await self._prepare(cmd, announce=not restored):
            return "failed"
        if self._withdrawn(bid):
            return "cancelled"  # cancelled while it was being prepared
        assert self.scheduler is not None
        outcome = "queued"
        if cmd.recurrence is not None:
            outcome = "recurring"
            if not (restored and self.scheduler.has(bid)):
                nxt = self.scheduler.add_recurrence(bid, cmd.recurrence)
                if nxt is None and restored and self._owes_occurrence(bid):
                    # the last occurrence fell due before the restart and is queued again from its run
                    # record: it plays (or is reported missed), then finishes the series
                    return "recurring, last occurrence queued"
                if nxt is None:
                    await self.expire(cmd, "no_future_occurrence", "the recurrence has no occurrence left")
                    return "expired"
                await self.acks.ack(cmd.id, AckStage.SCHEDULED, bulletin_id=bid, detail=f"next {nxt.isoformat()}")
        elif cmd.play_at is not None:
            if now - cmd.play_at > self.grace:
                self.scheduler.remove(bid)
                await self.expire(cmd, "missed_schedule", f"play_at {cmd.play_at.isoformat()} passed")
                return "expired"
            if not restored:
                await self.acks.ack(cmd.id, AckStage.SCHEDULED, bulletin_id=bid, detail=cmd.play_at.isoformat())
                if self._withdrawn(bid):
                    return "cancelled"  # a cancel handled while the ack was written: it was reported cancelled
            if cmd.play_at - self.queue.lead > now:
                outcome = "timed"
                if not (restored and self.scheduler.has(bid)):
                    self.scheduler.add_play_at(bid, cmd.play_at)
            else:
                if restored and self.scheduler.remove(bid):
                    outcome = "fell due while down"
                self.enqueue(self.item_for(cmd, start_at=cmd.play_at, timed=True))
        else:
            self.enqueue(self.item_for(cmd, start_at=None, timed=False))
        self.on_change()
        return outcome

    def _owes_occurrence(self, bulletin_id: str) -> bool:
        """An occurrence of this series is queued or playing (restored from its run record)."""
        return bulletin_id in self.queue or (self.current is not None and self.current.bulletin_id == bulletin_id)

    async def _prepare(self, cmd: BulletinCommand, *, announce: bool) -> bool:
        """Make the audio ready now, at admission: download and verify HQ's rendering or synthesise, and
        for a timed play render the final WAV to disk (a restored bulletin reuses the one it has)."""
        ahead = render_ahead(play_at=cmd.play_at, recurring=cmd.recurrence is not None, now=self.clock())
        try:
            detail = await in_preparation_pool(self._render_ahead if ahead else self.renderer.prepare, cmd)
        except (TtsError, FetchError, AudioError) as err:
            reason = "tts_failed" if isinstance(err, TtsError) else "audio_unavailable"
            await self.conclude_bulletin(cmd, AckStage.FAILED, reason=reason, detail=str(err))
            return False
        if announce:
            await self.acks.ack(cmd.id, AckStage.RENDERED, bulletin_id=cmd.bulletin_id, detail=detail)
        return True

    def _volume_of(self, cmd: BulletinCommand) -> int:
        return cmd.volume if cmd.volume is not None else self.volume

    def _render_ahead(self, cmd: BulletinCommand) -> str:
        """Blocking: the final WAV of a timed bulletin, on disk for its start. A disk that refuses the
        file is no reason to fail the bulletin: it is rendered again when it is taken to play."""
        volume = self._volume_of(cmd)
        if self.ready.has(cmd.bulletin_id, cmd.id, volume):
            return "rendered ahead earlier"
        wav, description = self.renderer.render_described(cmd, self.volume)
        try:
            self.ready.put(cmd.bulletin_id, cmd.id, volume, wav)
        except OSError as err:
            logger.error("bulletin %s: rendered audio not kept (%s); it is rendered again at its start",
                         cmd.bulletin_id, err)
        return description

    def _render_now(self, cmd: BulletinCommand, keep: bool) -> bytes:
        """Blocking: render a play that had no usable WAV (untimed, beyond the horizon, volume changed);
        a timed one keeps it for its next occurrence."""
        wav = self.renderer.render(cmd, self.volume)
        if keep:
            with contextlib.suppress(OSError):
                self.ready.put(cmd.bulletin_id, cmd.id, self._volume_of(cmd), wav)
        return wav

    async def expire(self, cmd: BulletinCommand, reason: str, detail: str, *, remember: bool = True) -> None:
        await self._conclude(cmd.bulletin_id, cmd.id, "", AckStage.EXPIRED, remember=remember, reason=reason,
                             detail=detail)

    async def conclude(self, item: QueueItem, stage: AckStage, **fields: object) -> None:
        """A play's outcome, crash-safe: the terminal ack is journalled in the play's run record (the
        commit point), then sent, then the bulletin finished and the record removed. A restart in
        between sends the same ack again and finishes: a play whose outcome was decided is never
        replayed, and no outcome is lost."""
        await self._conclude(item.bulletin_id, item.command_id, item.occurrence, stage, **fields)

    async def conclude_bulletin(self, cmd: BulletinCommand, stage: AckStage, occurrence: str = "",
                                **fields: object) -> None:
        await self._conclude(cmd.bulletin_id, cmd.id, occurrence, stage, **fields)

    async def _conclude(self, bulletin_id: str, command_id: str, occurrence: str, stage: AckStage, *,
                        remember: bool = True, **fields: object) -> None:
        ack = self.acks.build(command_id, stage, bulletin_id=bulletin_id,
                              occurrence=datetime.fromisoformat(occurrence) if occurrence else None, **fields)
        run = Run(bulletin_id, command_id, occurrence, "done", ack=codec.encode(ack).decode())
        await asyncio.to_thread(self.runs.put, run)
        await self.acks.send(ack)
        await self.finish(bulletin_id, remember=remember)
        await asyncio.to_thread(self.runs.remove, run)

    def enqueue(self, item: QueueItem) -> bool:
        """Queue ``item`` unless the same play (bulletin, occurrence) is already queued or playing."""
        if item.bulletin_id in self._cancelling:
            logger.info("bulletin %s is being cancelled; not queued", item.bulletin_id)
            return False
        playing = self.current is not None and self.current.key == item.key
        if playing or not self.queue.push(item):
            logger.warning("bulletin %s%s is already %s; not queued twice", item.bulletin_id,
                           f" (occurrence {item.occurrence})" if item.occurrence else "",
                           "playing" if playing else "queued")
            return False
        if preempts(item, self.current) and self._current_task is not None:
            logger.warning("emergency %s preempts %s", item.bulletin_id, self.playing)
            self._stop_reason = "preempted"
            self._current_task.cancel()
        self._wake.set()
        self.on_change()
        return True

    def _run_of(self, item: QueueItem, state: str, started_at: datetime | None = None) -> Run:
        return Run(item.bulletin_id, item.command_id, item.occurrence, state,  # type: ignore[arg-type]
                   started_at, item.replays)

    async def finish(self, bulletin_id: str, *, remember: bool = True) -> None:
        """Terminal for this bulletin unless a recurrence still has occurrences to come."""
        if self.scheduler is not None and self.scheduler.has(bulletin_id):
            return
        if bulletin_id in self.queue:
            return
        await asyncio.to_thread(self._finish_files, bulletin_id, remember)
        self.known.discard(bulletin_id)  # after: a duplicate arriving meanwhile must still be refused

    def _finish_files(self, bulletin_id: str, remember: bool) -> None:
        self.store.finish(bulletin_id, remember=remember)
        self.ready.discard(bulletin_id)

    # SchedulerHost
    async def on_due(self, bulletin_id: str, start_at: str | None, occurrence: str) -> None:
        """A job fired: a ``play_at`` (``start_at`` given) or a series occurrence (its scheduled instant).

        An occurrence starts at its own instant (so it sorts before anything timed later) and gets a
        ``due`` run record first: a restart before it has played still knows it is owed.
        """
        cmd = self.store.get(bulletin_id)
        if cmd is None:
            return
        if cmd.recurrence is None:
            start = datetime.fromisoformat(start_at) if start_at else None
            self.enqueue(self.item_for(cmd, start_at=start, timed=True))
            return
        item = self.item_for(cmd, start_at=datetime.fromisoformat(occurrence), timed=True, occurrence=occurrence)
        await asyncio.to_thread(self.runs.put, self._run_of(item, "due"))
        self.enqueue(item)

    async def on_missed(self, bulletin_id: str, scheduled: datetime) -> None:
        cmd = self.store.get(bulletin_id)
        if cmd is not None:
            occurrence = scheduled.isoformat() if cmd.recurrence is not None else ""
            await self.conclude_bulletin(cmd, AckStage.EXPIRED, occurrence, reason="missed_schedule",
                                         detail=f"run at {scheduled.isoformat()} missed beyond the grace period")

    # ------------------------------------------------------------------ the worker

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock()
            for item in self.queue.pop_expired(now):
                await self.conclude(item, AckStage.EXPIRED, reason="expired_in_queue",
                                    detail=f"expired at {item.expires_at.isoformat()}")
            item = self.queue.next_ready(now, self.programme)
            if item is None:
                wake = self.queue.wake_at(now, self.programme)
                timeout = 1.0 if wake is None else min(1.0, max(0.005, (wake - now).total_seconds()))
                await wait_event(self._wake, timeout)
                continue
            await self._play(item)

    async def _play(self, item: QueueItem) -> None:
        self.current, self._stop_reason = item, None
        self.on_change()
        task = asyncio.get_running_loop().create_task(self._perform(item), name=f"bulletin:{item.bulletin_id}")
        self._current_task = task
        try:
            await asyncio.wait({task})
        finally:
            if not task.done():  # the worker itself is being stopped
                task.cancel()
            self.current, self._current_task = None, None
            self.on_change()

    async def _perform(self, item: QueueItem) -> None:
        bid = item.bulletin_id
        cmd = self.store.get(bid)
        if cmd is None:
            return
        try:
            if cmd.kind == "relay":
                await self._perform_relay(item, cmd)
            else:
                await self._perform_audio(item, cmd)
        except asyncio.CancelledError:
            await self._interrupted(item, cmd)
        except Exception as err:
            logger.exception("bulletin %s failed", bid)
            await self.conclude(item, AckStage.FAILED, reason="playback_error", detail=str(err))
        finally:
            self.amplifier.release(bid)

    async def _interrupted(self, item: QueueItem, cmd: BulletinCommand) -> None:
        reason = self._stop_reason or "cancelled"
        if reason == "stopping":
            raise asyncio.CancelledError
        if reason == "preempted":
            item.preempted += 1
            self.queue.push(item)
            await asyncio.to_thread(self.runs.put, self._run_of(item, "due", item.cut_started_at))
            await self.acks.ack(cmd.id, AckStage.SCHEDULED, bulletin_id=item.bulletin_id, reason="preempted",
                                detail="interrupted by an emergency; re-queued to play again from the start",
                                occurrence=item.occurrence_at)
            return
        await self.conclude(item, AckStage.CANCELLED, reason="cancelled_by_hq")

    async def _yield_to_earlier(self, item: QueueItem) -> bool:
        """Wait until it is time to prepare ``item``'s start; True (item put back) if a play due earlier
        arrived meanwhile.

        A timed item is taken ``lead_s`` before its start (to render it); a series occurrence or a
        ``play_at`` due before it may arrive meanwhile, and must not wait behind a later play time.
        Nothing has been acked for ``item`` yet, so it just goes back to the queue.
        """
        if item.start_at is None:
            return False
        while True:
            now = self.clock()
            if self.queue.has_before(item, now, self.programme):
                self.queue.push(item)
                logger.info("%s goes back to the queue: a play due earlier arrived", item.bulletin_id)
                return True
            remaining = (self._prepare_at(item) - now).total_seconds()
            if remaining <= 0.04:
                return False
            self._wake.clear()
            await wait_event(self._wake, remaining - 0.02)

    def _prepare_at(self, item: QueueItem) -> datetime:
        """When the start of a timed item is prepared: its warm-up plus time for the durable records."""
        assert item.start_at is not None
        return item.start_at - self._start_budget()

    def _start_budget(self) -> timedelta:
        return timedelta(seconds=self.amplifier.ready_in() + START_RECORDS_S)

    async def _begin(self, item: QueueItem, cmd: BulletinCommand) -> datetime | None:
        """Run record and ``playing`` ack, amplifier on (warm), synchronised start; returns the instant
        this item must be cut, if any.

        The ``playing`` run record is on disk before the ``playing`` ack and the audio: a restart from
        here on is reported as an interruption (:mod:`edge_agent.programme.recovery`). Both writes are
        done before the warm-up, inside the start's lead, so they never delay a synchronised start.
        """
        now = self.clock()
        item.cut_started_at = item.start_at if item.start_at and item.start_at > now else now
        await asyncio.to_thread(self.runs.put, self._run_of(item, "playing", item.cut_started_at))
        detail = item.start_at.isoformat() if item.start_at else None
        if item.replays:
            detail = f"replay after an interruption{f' ({detail})' if detail else ''}"
        await self.acks.ack(cmd.id, AckStage.PLAYING, bulletin_id=item.bulletin_id, detail=detail,
                            occurrence=item.occurrence_at, wait_sent=False)  # durable; the PUBACK is not awaited
        if item.start_at is not None:
            await sleep_until(item.start_at - timedelta(seconds=self.amplifier.ready_in()), self.clock)
        await self.amplifier.acquire(item.bulletin_id)
        if item.start_at is not None:
            await sleep_until(item.start_at, self.clock)
        window = self.programme.window_at(self.clock())
        return window.end if item.gated and window is not None else None

    async def _perform_audio(self, item: QueueItem, cmd: BulletinCommand) -> None:
        wav = await asyncio.to_thread(self.ready.get, item.bulletin_id, cmd.id, self._volume_of(cmd))
        check = check_start(now=self.clock(), start_at=item.start_at, ready=wav is not None,
                            budget=self._start_budget())
        if check.late_by > timedelta(0):
            logger.warning("bulletin %s: %s, %.3f s past the moment to prepare its start; it starts late",
                           item.bulletin_id, check.readiness.value, check.late_by.total_seconds())
        if wav is None:
            wav = await in_preparation_pool(self._render_now, cmd, item.start_at is not None)
        if await self._yield_to_earlier(item):
            return
        cut_at = await self._begin(item, cmd)
        play = self.sink.play(wav, label=item.bulletin_id)
        started = utcnow()
        if cut_at is None:
            report = await play
        else:
            try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can drop a cancel (preemption, stop)
                async with asyncio.timeout(max(0.0, (cut_at - self.clock()).total_seconds())):
                    report = await play
            except TimeoutError:
                await self.conclude(item, AckStage.PLAYED, reason="cut_at_window_end", started_at=started,
                                    ended_at=utcnow(), duration_s=round((utcnow() - started).total_seconds(), 3),
                                    detail="the programme window ended during playback")
                return
        start = describe_start(item.start_at, report.started_at,
                               rendered_late=check.readiness is Readiness.RENDER_FIRST)
        await self.conclude(item, AckStage.PLAYED, started_at=report.started_at, ended_at=report.ended_at,
                            duration_s=round(report.duration_s, 3), loudness_dbfs=round(report.loudness_dbfs, 1),
                            detail=self._played_detail(item, start))

    @staticmethod
    def _played_detail(item: QueueItem, start: str | None = None) -> str | None:
        parts = [f"occurrence {item.occurrence}"] if item.occurrence else []
        if item.replays:
            parts.append("replayed from the start after an interruption")
        if start:
            parts.append(start)
        return "; ".join(parts) or None

    async def _perform_relay(self, item: QueueItem, cmd: BulletinCommand) -> None:
        assert cmd.relay is not None
        if await self._yield_to_earlier(item):
            return
        await self._begin(item, cmd)
        end = min(cmd.relay.end_at, cmd.expires_at)
        report = await self.relay.run(cmd.relay.url, end, item.bulletin_id)
        await self.conclude(item, AckStage.PLAYED, started_at=report.started_at, ended_at=report.ended_at,
                            duration_s=round(report.seconds, 3), loudness_dbfs=round(report.loudness_dbfs, 1),
                            detail=f"relayed {report.seconds:.1f}s, {report.reconnects} reconnect(s)")

    # ------------------------------------------------------------------ programme windows → amplifier

    async def _programme_loop(self) -> None:
        while True:
            self._programme_changed.clear()
            now = self.clock()
            if self.programme.window_at(now) is not None and not self.programme.is_quiet(now):
                await self.amplifier.acquire("programme", warmup=False)
            else:
                self.amplifier.release("programme", hold=False)
            self._wake.set()
            boundary = self.programme.next_boundary(now)
            timeout = 60.0 if boundary is None else min(60.0, max(0.001, (boundary - now).total_seconds()))
            await wait_event(self._programme_changed, timeout)
