"""Which voice read a bulletin, in plain words: engine, voice and quality class (pure; translated by gettext).

HQ records each rendering's engine (``gtts``, ``espeak``, ``google``…), voice and quality class
(``neural``/``robotic``/``human``, see :mod:`loaxa_speech.tts.summary`). A broadcaster reads "Google (vi) ·
giọng tự nhiên (AI)" or "espeak-ng (vi) · giọng máy, khó nghe"; the robotic warning follows the quality class,
never the engine's name, so a new robotic engine is warned about without touching the UI.
"""

from __future__ import annotations

from hq_server.ui.fmt import Gettext


def _(s: str) -> str:  # extraction marker; translated by the caller's gettext
    return s


QUALITY_LABELS = {"neural": _("natural voice (AI)"), "robotic": _("machine voice, hard to understand"),
                  "human": _("human voice (recording)")}
QUALITY_TONE = {"neural": "ok", "human": "ok", "robotic": "warn"}
ENGINE_NAMES = {"gtts": "Google Translate", "espeak": "espeak-ng", "google": "Google Cloud", "azure": "Azure",
                "fpt": "FPT.AI", "viettel": "Viettel AI", "zalo": "Zalo AI", "piper": "Piper",
                "recording": _("recording")}


def engine_name(engine: str | None, gettext: Gettext) -> str:
    """"gtts+espeak" → "Google Translate + espeak-ng" (a rendering may mix engines sentence by sentence)."""
    parts = [p for p in (engine or "").split("+") if p]
    return " + ".join(gettext(ENGINE_NAMES[p]) if p in ENGINE_NAMES else p for p in parts)


def quality_label(quality: str | None, gettext: Gettext) -> str:
    return gettext(QUALITY_LABELS[quality]) if quality in QUALITY_LABELS else (quality or "")


def voice_label(engine: str | None, voice: str | None, quality: str | None, gettext: Gettext) -> str:
    """"Google Translate (vi) · natural voice (AI)"; a recording is just "human voice (recording)"."""
    if quality == "human":
        return quality_label(quality, gettext)
    who = engine_name(engine, gettext)
    if voice:
        who = f"{who} ({voice})" if who else voice
    label = quality_label(quality, gettext)
    return " · ".join(p for p in (who, label) if p)


def js_messages(gettext: Gettext) -> dict[str, str]:
    """What a page script needs to say the same after a hear-test (keys ``q_<quality>``, ``engine_<id>``)."""
    out = {f"q_{k}": gettext(v) for k, v in QUALITY_LABELS.items()}
    out.update({f"engine_{k}": gettext(v) for k, v in ENGINE_NAMES.items()})
    return out
