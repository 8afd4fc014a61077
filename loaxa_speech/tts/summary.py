"""What a rendering sounds like, in one record: engine, voice, quality class and why a fallback was used.

HQ stores this with every bulletin and returns it with the bulletin and the preview, so the
broadcaster sees "read by the robotic espeak-ng voice because Google could not be reached" instead
of discovering it at the loudspeaker. Pure: typed strictly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loaxa_speech.tts.engines.base import Quality

#: Shown wherever a robotic rendering is about to go out (API field ``speech.warning``).
ROBOTIC_WARNING = ("Giọng đọc máy (espeak-ng) rất khó nghe: nên ghi âm giọng người đọc, hoặc kiểm tra kết nối tới "
                   "dịch vụ giọng đọc tự nhiên (robotic voice: record a human voice, or restore the neural voice)")


class _Part(Protocol):
    engine: str
    voice: str
    quality: Quality
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class SpeechSummary:
    engine: str
    voice: str
    quality: Quality
    note: str | None = None

    @property
    def robotic(self) -> bool:
        return self.quality == Quality.ROBOTIC

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "voice": self.voice, "quality": self.quality.value, "note": self.note,
                "warning": ROBOTIC_WARNING if self.robotic else None}


#: A recorded or uploaded human voice: no engine, no fallback.
HUMAN = SpeechSummary(engine="recording", voice="", quality=Quality.HUMAN)

_RANK = {Quality.HUMAN: 0, Quality.NEURAL: 1, Quality.ROBOTIC: 2}


def _joined(values: Sequence[str]) -> str:
    return "+".join(dict.fromkeys(v for v in values if v))


def summarise(parts: Sequence[_Part]) -> SpeechSummary:
    """One record for a multi-part rendering: the worst quality wins (one robotic sentence is robotic)."""
    if not parts:
        raise ValueError("no parts to summarise")
    quality = max((p.quality for p in parts), key=_RANK.__getitem__)
    reasons = list(dict.fromkeys(r for p in parts for r in p.skipped))
    engine = _joined([p.engine for p in parts])
    note = None
    if reasons:
        note = f"Đọc bằng {engine} vì (read by {engine} because): " + "; ".join(reasons)
    return SpeechSummary(engine=engine, voice=_joined([p.voice for p in parts]), quality=quality, note=note[:500]
                         if note else None)
