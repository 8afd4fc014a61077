"""How a text will be read, before it is sent: the normalised words, a hear-test rendering, the voices.

Both use the exact chain the bulletin will use (``loaxa_speech`` normaliser, HQ's engine order, voice
and rate), so what the broadcaster hears is what the loudspeakers will say. The rendering is stored by
content hash like a bulletin's and its sentences are cached, so sending the same text afterwards costs
no second synthesis (no second paid request to a cloud voice). The preview says how it will sound:
``quality`` (``neural``/``robotic``), ``speech`` (engine, voice, why a fallback was used) and
``voice_warning`` let the UI warn before a robotic reading goes out.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hq_server.services.audio import AudioError, SpeechInputError
from hq_server.services.auth import Perm
from hq_server.services.speech_record import summary_json
from hq_server.web import AUDIO, CONFIG, ApiError, Routes, json_response, parse_body
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_speech.normalise import normalise
from loaxa_speech.tts.voices import ACCENTS, GENDERS

routes = Routes()

_GENDER_VI = {"female": "Nữ", "male": "Nam"}
_ACCENT_VI = {"north": "miền Bắc", "central": "miền Trung", "south": "miền Nam"}


class SpeechIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = Field(default=None, max_length=64)
    rate: int | None = Field(default=None, ge=80, le=300)


def _text(body: SpeechIn) -> str:
    if not body.text.strip():
        raise ApiError(400, "Nội dung trống (text is empty)", {"text": "Nội dung trống (text is empty)"})
    return body.text


@routes.route("POST", "/api/v1/speech/normalise", perm=Perm.BULLETIN_WRITE, body=SpeechIn,
              summary="The words a loudspeaker will say for a text (numbers, dates, abbreviations spelled out)")
async def normalised(request: web.Request) -> web.Response:
    body = await parse_body(request, SpeechIn)
    return json_response({"text": body.text, "normalised": normalise(_text(body))})


@routes.route("POST", "/api/v1/speech/preview", perm=Perm.BULLETIN_WRITE, body=SpeechIn,
              summary="Render a text at HQ for a hear-test: audio URL, duration, engines, voice quality")
async def preview(request: web.Request) -> web.Response:
    body = await parse_body(request, SpeechIn)
    text = _text(body)
    try:
        rendering = await request.app[AUDIO].render(text, body.voice, body.rate)
    except SpeechInputError as err:  # the broadcaster's text or voice, not a failing engine
        raise ApiError(400, str(err), {err.field: str(err)}) from err
    except AudioError as err:
        raise ApiError(502, f"Không tạo được giọng đọc (speech rendering failed): {err}") from err
    audio, speech = rendering.audio, rendering.speech
    return json_response({"sha256": audio.sha256, "url": f"/audio/{audio.sha256}", "duration_s": audio.duration_s,
                          "engines": list(audio.engines), "quality": speech.quality.value,
                          "normalised": rendering.spoken_text, "speech": summary_json(speech),
                          "voice_warning": speech.robotic})


@routes.route("GET", "/api/v1/speech/voices", perm=Perm.BULLETIN_READ,
              summary="Voices of HQ's rendering chain (gender, accent, quality) and whether each is reachable")
async def voices(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG].bulletins
    speech = request.app[AUDIO].speech
    engines: list[dict[str, Any]] = []
    for engine in speech.engines:
        engines.append({
            "name": engine.name, "quality": engine.quality.value, "available": engine.available(),
            "unavailable_because": engine.unavailable_reason(),
            "skipped_because": speech.down_reason(engine),
            "voices": [{"id": f"{engine.name}:{v.id}", "gender": v.gender, "accent": v.accent, "label": v.label}
                       for v in engine.voices],
        })
    choices = [{"id": f"{g}-{a}", "label": f"{_GENDER_VI[g]} {_ACCENT_VI[a]}"} for g in GENDERS for a in ACCENTS]
    return json_response({"default_voice": cfg.tts_voice, "rate_wpm": cfg.tts_rate_wpm, "choices": choices,
                          "engines": engines})
