"""Voices: one vocabulary (gender, regional accent, speed) across engines that each name voices their own way.

A broadcaster asks for "a female voice from the South, a little slower"; Google calls that
``vi-VN-Wavenet-C``-ish (it has no Southern voice), FPT.AI ``lannhi``, Zalo speaker ``1`` and espeak-ng
``vi-vn-x-south``. A *voice wish* is written as:

* ``"female-south"``, ``"male"``, ``"central"`` — gender and/or accent (``north``/``central``/``south``);
* ``"fpt:banmai"`` — one engine's voice: that engine goes first in the chain, and the other engines
  keep its gender and accent when they must stand in;
* ``"vi-VN-HoaiMyNeural"`` or ``"vi-vn-x-south"`` — a voice id of any engine, understood by all of them
  through the catalogue below.

:func:`pick` is the pure decision: the exact voice if the engine has it, else the best match on
accent then gender, else the engine's default. Pure, no I/O: typed strictly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Gender = Literal["female", "male"]
Accent = Literal["north", "central", "south"]
GENDERS: tuple[Gender, ...] = ("female", "male")
ACCENTS: tuple[Accent, ...] = ("north", "central", "south")
_GENDER_WORDS: dict[str, Gender] = {"female": "female", "nu": "female", "nữ": "female", "male": "male"}
_ACCENT_WORDS: dict[str, Accent] = {
    "north": "north", "bac": "north", "bắc": "north", "central": "central", "trung": "central",
    "south": "south",
}  # fmt: skip

#: Speaking rate (words per minute) a neural voice has at speed 1.0; requested rates scale from it.
NATURAL_WPM = 150


@dataclass(frozen=True)
class Voice:
    """One voice of one engine. ``id`` is what the provider's API expects."""

    id: str
    gender: Gender
    accent: Accent
    label: str = ""


@dataclass(frozen=True)
class VoiceWish:
    """What was asked for, normalised: maybe an engine, maybe an exact id, maybe gender/accent."""

    engine: str | None = None
    voice: str | None = None
    gender: Gender | None = None
    accent: Accent | None = None


def _v(id_: str, gender: Gender, accent: Accent, label: str) -> Voice:
    return Voice(id_, gender, accent, label)


#: Every engine's Vietnamese voices, from each provider's documentation. An engine without a voice for
#: an accent (Google and Azure have only Northern voices) stands in with its closest voice.
CATALOGUE: dict[str, tuple[Voice, ...]] = {
    "espeak": (
        _v("vi", "male", "north", "espeak-ng miền Bắc"),
        _v("vi-vn-x-central", "male", "central", "espeak-ng miền Trung"),
        _v("vi-vn-x-south", "male", "south", "espeak-ng miền Nam"),
    ),
    "gtts": (_v("vi", "female", "north", "Google Dịch (nữ, miền Bắc)"),),
    "google": (
        _v("vi-VN-Wavenet-A", "female", "north", "Google WaveNet A (nữ)"),
        _v("vi-VN-Wavenet-B", "male", "north", "Google WaveNet B (nam)"),
        _v("vi-VN-Wavenet-C", "female", "north", "Google WaveNet C (nữ)"),
        _v("vi-VN-Wavenet-D", "male", "north", "Google WaveNet D (nam)"),
        _v("vi-VN-Neural2-A", "female", "north", "Google Neural2 A (nữ)"),
        _v("vi-VN-Neural2-D", "male", "north", "Google Neural2 D (nam)"),
        _v("vi-VN-Standard-A", "female", "north", "Google Standard A (nữ)"),
        _v("vi-VN-Standard-B", "male", "north", "Google Standard B (nam)"),
        _v("vi-VN-Standard-C", "female", "north", "Google Standard C (nữ)"),
        _v("vi-VN-Standard-D", "male", "north", "Google Standard D (nam)"),
    ),
    "azure": (
        _v("vi-VN-HoaiMyNeural", "female", "north", "Azure Hoài My (nữ)"),
        _v("vi-VN-NamMinhNeural", "male", "north", "Azure Nam Minh (nam)"),
    ),
    "fpt": (
        _v("banmai", "female", "north", "FPT.AI Ban Mai (nữ, miền Bắc)"),
        _v("thuminh", "female", "north", "FPT.AI Thu Minh (nữ, miền Bắc)"),
        _v("leminh", "male", "north", "FPT.AI Lê Minh (nam, miền Bắc)"),
        _v("myan", "female", "central", "FPT.AI Mỹ An (nữ, miền Trung)"),
        _v("giahuy", "male", "central", "FPT.AI Gia Huy (nam, miền Trung)"),
        _v("lannhi", "female", "south", "FPT.AI Lan Nhi (nữ, miền Nam)"),
        _v("linhsan", "female", "south", "FPT.AI Linh San (nữ, miền Nam)"),
    ),
    "viettel": (
        _v("hn-quynhanh", "female", "north", "Viettel Quỳnh Anh (nữ, miền Bắc)"),
        _v("hn-phuongtrang", "female", "north", "Viettel Phương Trang (nữ, miền Bắc)"),
        _v("hn-thanhtung", "male", "north", "Viettel Thanh Tùng (nam, miền Bắc)"),
        _v("hue-maingoc", "female", "central", "Viettel Mai Ngọc (nữ, miền Trung)"),
        _v("hue-baoquoc", "male", "central", "Viettel Bảo Quốc (nam, miền Trung)"),
        _v("hcm-diemmy", "female", "south", "Viettel Diễm My (nữ, miền Nam)"),
        _v("hcm-minhquan", "male", "south", "Viettel Minh Quân (nam, miền Nam)"),
    ),
    "zalo": (
        _v("2", "female", "north", "Zalo nữ miền Bắc"),
        _v("4", "male", "north", "Zalo nam miền Bắc"),
        _v("1", "female", "south", "Zalo nữ miền Nam"),
        _v("3", "male", "south", "Zalo nam miền Nam"),
    ),
}


#: Engines whose voices say nothing about gender (espeak-ng's Vietnamese voices differ by accent only).
_ACCENT_ONLY = frozenset({"espeak"})


def _known(voice_id: str) -> VoiceWish | None:
    for engine, voices in CATALOGUE.items():
        for v in voices:
            if v.id == voice_id and not voice_id.isdigit():  # Zalo's "1".."4" are only meaningful as zalo:1
                return VoiceWish(None, voice_id, None if engine in _ACCENT_ONLY else v.gender, v.accent)
    return None


def parse_voice(text: str | None) -> VoiceWish:
    """``"fpt:banmai"``, ``"female-south"``, ``"vi-vn-x-south"`` … → a :class:`VoiceWish` (never raises)."""
    if not text or not text.strip():
        return VoiceWish()
    raw = text.strip()
    engine, sep, rest = raw.partition(":")
    if sep and engine and rest:
        known = next((v for v in CATALOGUE.get(engine, ()) if v.id == rest), None)
        if known is not None:
            return VoiceWish(engine, rest, known.gender, known.accent)
        return VoiceWish(engine, rest)
    known = _known(raw)
    if known is not None:
        return known
    gender: Gender | None = None
    accent: Accent | None = None
    words = raw.lower().replace("_", "-").split("-")
    for word in words:
        if word in _GENDER_WORDS:
            gender = _GENDER_WORDS[word]
        elif word in _ACCENT_WORDS:
            accent = _ACCENT_WORDS[word]
        else:
            return VoiceWish(None, raw)  # an id we do not know: the engine that has it will use it
    return VoiceWish(None, None, gender, accent)


def pick(voices: tuple[Voice, ...], wish: VoiceWish, default: str, engine: str) -> str:
    """The voice id ``engine`` should use for ``wish``: exact id, else best accent/gender match, else default."""
    if wish.voice and (wish.engine in (None, engine)) and any(v.id == wish.voice for v in voices):
        return wish.voice
    if wish.engine == engine and wish.voice and not voices:
        return wish.voice  # an engine without a catalogue (a plug-in) takes its own ids on trust
    if wish.gender is None and wish.accent is None:
        return default

    def score(v: Voice) -> int:
        return (2 if wish.accent and v.accent == wish.accent else 0) + (1 if wish.gender and v.gender == wish.gender
                                                                         else 0)

    best = max(voices, key=score, default=None)
    return best.id if best is not None and score(best) > 0 else default


class _HasVoices(Protocol):
    name: str
    voices: tuple[Voice, ...]


def wish_is_known(wish: VoiceWish, engines: Sequence[_HasVoices]) -> bool:
    """Whether some engine of the chain can honour ``wish`` (an unknown name is the operator's typo: a 400)."""
    if wish.gender or wish.accent or (wish.engine is None and wish.voice is None):
        return True
    for engine in engines:
        if wish.engine not in (None, engine.name):
            continue
        if wish.engine == engine.name and not engine.voices:
            return True  # a plug-in engine without a catalogue takes its own ids on trust
        if any(v.id == wish.voice for v in engine.voices):
            return True
    return False


def speed_factor(rate_wpm: int | None, low: float = 0.5, high: float = 2.0) -> float:
    """Words per minute → a provider's speed multiplier (1.0 = the voice's natural pace), clamped."""
    if rate_wpm is None:
        return 1.0
    return round(min(high, max(low, rate_wpm / NATURAL_WPM)), 2)


def describe(engine: str, voice_id: str) -> Voice | None:
    """Catalogue entry of ``engine``'s voice ``voice_id`` (None for unknown ids)."""
    return next((v for v in CATALOGUE.get(engine, ()) if v.id == voice_id), None)
