"""Bulletin operations: create, edit, approve, cancel, delete — the rules, out of the HTTP routes.

Every way a bulletin comes in (the API, a CAP alert, a re-send to the loudspeakers where one failed, the
web UI) goes through :class:`BulletinService`, so the same rules hold: targets checked against the
registry, the speech rendered once (whatever the number of loudspeakers: they fetch HQ's file by its
hash), the two-person rule, the lifetime, and state changes only through
:func:`hq_server.services.lifecycle.transition`.

Nothing here sends: a bulletin due now is committed ``scheduled`` and the sweeper is woken
(``kick``), so the request answers in milliseconds whatever the size of the broadcast; its progress
follows on the delivery endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.config import HqConfig
from hq_server.errors import ApiError
from hq_server.services.audio import AudioError, AudioStore, SpeechInputError
from hq_server.services.bulletin_rules import BulletinIn, LifetimeRules, lifetime, validated
from hq_server.services.lifecycle import (
    BulletinEvent,
    BulletinState,
    IllegalTransition,
    deletable,
    initial_state,
    transition,
)
from hq_server.services.speech_record import record as record_speech
from hq_server.services.targets import resolve_targets
from hq_server.storage.tables import Bulletin, now
from loaxa_contract.models import Priority
from loaxa_speech.tts.summary import HUMAN

NOT_FOUND = "Không tìm thấy bản tin (no such bulletin)"


def _conflict(err: IllegalTransition) -> ApiError:
    return ApiError(409, str(err))


class BulletinService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], audio: AudioStore, cfg: HqConfig,
                 kick: Callable[[], None], cancel: Callable[[str, str], Awaitable[bool]]) -> None:
        self.sessions = sessions
        self.audio = audio
        self.cfg = cfg
        self.kick = kick
        """Wakes the dispatcher (off the request)."""
        self._cancel = cancel

    def _two_person(self, priority: str) -> bool:
        return self.cfg.bulletins.emergency_two_person and priority == Priority.EMERGENCY.value

    async def create(self, body: BulletinIn, author: str, **extra: Any) -> Bulletin:
        """Render, apply the rules, store; dispatched at once off the request when due."""
        b = Bulletin(id=uuid.uuid4().hex[:12], author=author, created_at=now(), **extra)
        await self._apply(b, body, render=True)
        b.state = initial_state(self._two_person(b.priority)).value
        async with self.sessions() as s:
            s.add(b)
            await s.commit()
        self._kick_if_due(b)
        return b

    async def edit(self, bulletin_id: str, changes: dict[str, Any]) -> Bulletin:
        """Change a bulletin not sent yet; an emergency under the two-person rule needs approval again."""
        async with self.sessions() as s:
            b = await self._get(s, bulletin_id)
            state = BulletinState(b.state)
            if not state.editable:
                raise _conflict(IllegalTransition(state, BulletinEvent.EDIT))
            merged = self._current_input(b)
            if "expires_at" not in changes and (b.renew_at is not None or {"send_at", "recurrence"} & set(changes)):
                merged.pop("expires_at", None)  # a computed expiry follows the new send time / recurrence
            merged.update(changes)
            body = validated(merged)
            render = b.kind != body.kind or b.text != body.text or b.voice != body.voice or b.rate != body.rate
            await self._apply(b, body, render=render or b.audio_sha256 is None)
            step = transition(state, BulletinEvent.EDIT, needs_second_approval=self._two_person(b.priority))
            if step.state == BulletinState.AWAITING_APPROVAL:
                b.approved_by = None
            b.state = step.state.value
            await s.commit()
        self._kick_if_due(b)
        return b

    async def approve(self, bulletin_id: str, approver: str) -> Bulletin:
        async with self.sessions() as s:
            b = await self._get(s, bulletin_id)
            try:
                step = transition(BulletinState(b.state), BulletinEvent.APPROVE)
            except IllegalTransition as err:
                raise _conflict(err) from err
            if b.author == approver:
                raise ApiError(403, "Người soạn không được tự duyệt (two-person rule: the author cannot approve)")
            b.state, b.approved_by, b.updated_at = step.state.value, approver, now()
            await s.commit()
        self._kick_if_due(b)
        return b

    async def cancel(self, bulletin_id: str, by: str) -> None:
        """Cancel it (a cancel command goes to every target if anything went out); 404 / 409 otherwise."""
        if not await self._cancel(bulletin_id, by):
            async with self.sessions() as s:
                b = await self._get(s, bulletin_id)
            raise _conflict(IllegalTransition(BulletinState(b.state), BulletinEvent.CANCEL))

    async def delete(self, bulletin_id: str) -> Bulletin:
        async with self.sessions() as s:
            b = await self._get(s, bulletin_id)
            if not deletable(BulletinState(b.state), b.sent_at is not None):
                raise ApiError(409, "Chỉ xoá được bản tin chưa phát; hãy huỷ (only unsent bulletins; cancel instead)")
            await s.delete(b)
            await s.commit()
        return b

    # ------------------------------------------------------------------ helpers

    @staticmethod
    async def _get(s: AsyncSession, bulletin_id: str) -> Bulletin:
        """The row, locked until commit on PostgreSQL (a dispatcher in another process waits for an edit)."""
        b = await s.get(Bulletin, bulletin_id, with_for_update=True)
        if b is None:
            raise ApiError(404, NOT_FOUND)
        return b

    def _kick_if_due(self, b: Bulletin) -> None:
        if b.state == BulletinState.SCHEDULED.value:
            self.kick()  # the sweeper decides (send_at less the lead time); cheap when nothing is due

    @staticmethod
    def _current_input(b: Bulletin) -> dict[str, Any]:
        current: dict[str, Any] = {}
        for name in BulletinIn.model_fields:
            value = getattr(b, name)
            if value is not None:
                current[name] = value.isoformat() if hasattr(value, "isoformat") else value
        if b.kind == "text":
            current.pop("audio_sha256", None)
        return current

    async def _apply(self, b: Bulletin, body: BulletinIn, render: bool) -> None:
        b.title, b.kind, b.text, b.status = body.title, body.kind, body.text, body.status
        b.priority = body.priority.value
        async with self.sessions() as s:
            b.targets = await resolve_targets(s, body.targets.model_dump())
        b.relay_url, b.relay_end_at = body.relay_url, body.relay_end_at
        b.send_at, b.recurrence = body.send_at, body.recurrence.model_dump(mode="json") if body.recurrence else None
        b.repeat, b.chime, b.volume, b.voice, b.rate = body.repeat, body.chime, body.volume, body.voice, body.rate
        life = lifetime(LifetimeRules.from_config(self.cfg.command_ttl_s, self.cfg.bulletins),
                        max(body.send_at or now(), now()), body.recurrence, body.expires_at)
        b.expires_at, b.renew_at = life.expires_at, life.renew_at
        b.updated_at = now()
        await self._audio(b, body, render)

    async def _audio(self, b: Bulletin, body: BulletinIn, render: bool) -> None:
        """What loudspeakers play: HQ's rendition of a recording, or the text rendered once here."""
        if body.kind == "audio":
            assert body.audio_sha256
            if self.audio.find(body.audio_sha256) is None:
                raise ApiError(400, "Không tìm thấy tệp âm thanh (unknown audio)", {"audio_sha256": "not uploaded"})
            try:  # what goes out: silence trimmed, loudness normalised like the TTS output
                rendition = await self.audio.broadcast_recording(body.audio_sha256)
            except AudioError as err:
                raise ApiError(400, str(err), {"audio_sha256": str(err)}) from err
            b.audio_sha256, b.audio_duration_s = rendition.sha256, rendition.duration_s
            record_speech(b, HUMAN)
        elif body.kind == "text" and render:
            try:
                rendering = await self.audio.render(body.text, body.voice, body.rate)
            except SpeechInputError as err:  # the operator's mistake, not a failing engine
                raise ApiError(400, str(err), {err.field: str(err)}) from err
            except AudioError as err:
                raise ApiError(502, f"Không tạo được giọng đọc (speech rendering failed): {err}") from err
            b.audio_sha256, b.audio_duration_s = rendering.audio.sha256, rendering.audio.duration_s
            record_speech(b, rendering.speech)
        elif body.kind == "relay":
            b.audio_sha256 = None
            record_speech(b, None)
