"""A bulletin's speech record (engine, voice, quality class, fallback note) and the robotic-voice flag.

Pure mapping between :class:`SpeechSummary` and the bulletin's columns, and the JSON the API returns
with every bulletin and preview. ``voice_warning`` is the flag the web UI shows before a bulletin goes
out with the robotic voice (and offers a recording instead).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from loaxa_speech.tts.engines.base import Quality
from loaxa_speech.tts.summary import ROBOTIC_WARNING, SpeechSummary

#: States in which a bulletin can still be edited (re-rendered or replaced by a recording) before it goes out.
NOT_YET_SENT = ("awaiting_approval", "scheduled")


class _SpeechColumns(Protocol):
    speech_engine: str | None
    speech_voice: str | None
    speech_quality: str | None
    speech_note: str | None
    state: str
    send_at: datetime | None


def record(b: _SpeechColumns, summary: SpeechSummary | None) -> None:
    """Store how the bulletin's audio sounds (None for a relay: nothing is rendered)."""
    b.speech_engine = summary.engine[:100] if summary else None
    b.speech_voice = summary.voice[:200] if summary else None
    b.speech_quality = summary.quality.value if summary else None
    b.speech_note = summary.note[:500] if summary and summary.note else None


def summary_json(summary: SpeechSummary) -> dict[str, Any]:
    return summary.as_dict()


def speech_json(b: _SpeechColumns) -> dict[str, Any] | None:
    if b.speech_quality is None:
        return None
    robotic = b.speech_quality == Quality.ROBOTIC.value
    return {"engine": b.speech_engine, "voice": b.speech_voice, "quality": b.speech_quality,
            "note": b.speech_note, "warning": ROBOTIC_WARNING if robotic else None}


def voice_warning(b: _SpeechColumns) -> bool:
    """True when the bulletin has not gone out yet and would be read by the robotic voice.

    A scheduled bulletin due now is going out (the dispatcher sends it within moments of the POST): too late
    to offer a recording, so no warning."""
    if b.speech_quality != Quality.ROBOTIC.value or b.state not in NOT_YET_SENT:
        return False
    return b.state != "scheduled" or (b.send_at is not None and b.send_at > datetime.now(UTC))
