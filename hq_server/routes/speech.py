"""How a text will be read, before it is sent: the normalised words and a hear-test rendering.

Both use the exact chain the bulletin will use (``loaxa_speech`` normaliser, HQ's engine order), so
what the broadcaster hears is what the loudspeakers will say. The rendering is stored by content
hash like a bulletin's, so sending the same text afterwards reuses it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hq_server.services.audio import AudioError, SpeechInputError
from hq_server.services.auth import Perm
from hq_server.web import AUDIO, ApiError, Routes, json_response, parse_body
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_speech.normalise import normalise

routes = Routes()

# engines whose voice is synthetic-sounding (formant synthesis): the UI warns before such a broadcast
ROBOTIC_ENGINES = frozenset({"espeak"})


class SpeechIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = Field(default=None, max_length=64)
    rate: int | None = Field(default=None, ge=80, le=300)


def voice_quality(engines: tuple[str, ...] | list[str]) -> str:
    """``robotic`` when any part was spoken by a formant synthesiser (the offline fallback), else ``natural``."""
    return "robotic" if not engines or any(e in ROBOTIC_ENGINES for e in engines) else "natural"


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
        audio = await request.app[AUDIO].render(text, body.voice, body.rate)
    except SpeechInputError as err:  # the broadcaster's text or voice, not a failing engine
        raise ApiError(400, str(err), {err.field: str(err)}) from err
    except AudioError as err:
        raise ApiError(502, f"Không tạo được giọng đọc (speech rendering failed): {err}") from err
    return json_response({"sha256": audio.sha256, "url": f"/audio/{audio.sha256}", "duration_s": audio.duration_s,
                          "engines": list(audio.engines), "quality": voice_quality(audio.engines),
                          "normalised": normalise(text)})
