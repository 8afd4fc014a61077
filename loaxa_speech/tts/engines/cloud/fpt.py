"""FPT.AI text to speech, API v5 (asynchronous: the reply links to the audio file, which appears later).

Request: ``POST {base_url}/hmi/tts/v5`` with headers ``api_key``, ``voice`` (banmai, thuminh, leminh,
myan, giahuy, lannhi, linhsan), ``speed`` (-3 … +3, 0 normal) and ``format`` (mp3/wav); the body is
the UTF-8 text (3–5 000 characters). Answer: JSON ``{async: <url>, error: 0, message, request_id}``;
``error`` ≠ 0 is a failure with ``message``. The audio is then fetched from the ``async`` URL, polled
until it exists (the provider documents seconds to minutes depending on length; our chunks are one or
two sentences).
"""

from __future__ import annotations

import time

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsError
from loaxa_speech.tts.engines.cloud.base import CloudEngine
from loaxa_speech.tts.engines.cloud.fetch import fetch_when_ready
from loaxa_speech.tts.voices import CATALOGUE, speed_factor

MIN_CHARS, MAX_CHARS = 3, 5000


def speed_step(rate_wpm: int | None) -> int:
    """FPT's speed is a step from -3 (slowest) to +3; one step ≈ 10 % of the natural pace."""
    return max(-3, min(3, round((speed_factor(rate_wpm) - 1.0) * 10)))


class FptEngine(CloudEngine):
    name = "fpt"
    provider = "FPT.AI"
    key_env = "LOAXA_FPT_TTS_KEY"
    default_base_url = "https://api.fpt.ai"
    default_voice = "banmai"
    voices = CATALOGUE["fpt"]

    def __init__(self, *, audio_format: str = "mp3", poll_interval_s: float = 0.5, timeout_s: float = 30.0,
                 **kw: object) -> None:
        if audio_format not in ("mp3", "wav"):
            raise ValueError("fpt audio_format must be mp3 or wav")
        self.audio_format = audio_format
        self.poll_interval_s = poll_interval_s
        super().__init__(timeout_s=timeout_s, **kw)  # type: ignore[arg-type]

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        text = request.text if len(request.text) >= MIN_CHARS else f"{request.text}  ."[:MIN_CHARS]
        if len(text) > MAX_CHARS:
            raise TtsError(f"FPT.AI nhận tối đa {MAX_CHARS} ký tự (text over {MAX_CHARS} characters)")
        deadline = time.monotonic() + self.timeout_s
        reply = self.http.request("POST", f"{self.base_url}/hmi/tts/v5", data=text.encode("utf-8"), deadline=deadline,
                                  headers={"api_key": self.key(), "voice": voice,
                                           "speed": str(speed_step(request.rate_wpm)), "format": self.audio_format,
                                           "Content-Type": "text/plain; charset=utf-8"})
        data = reply.json()
        if not isinstance(data, dict) or data.get("error") != 0 or not isinstance(data.get("async"), str):
            message = data.get("message") if isinstance(data, dict) else None
            raise TtsError(f"FPT.AI từ chối (refused): {self.http.redact(str(message or data))[:200]}")
        audio = fetch_when_ready(self.http, data["async"], deadline, self.poll_interval_s)
        return SpeechResult(audio=audio, fmt=self.audio_format, engine=self.name, voice=voice)
