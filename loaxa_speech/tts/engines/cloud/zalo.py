"""Zalo AI text to speech (``POST {base_url}/v1/tts/synthesize``, form fields, the reply links to audio).

Request: header ``apikey``; form ``input`` (the text), ``speaker_id`` (1 Southern female, 2 Northern
female, 3 Southern male, 4 Northern male), ``speed`` (0.8–1.2), ``encode_type`` (0 WAV, 1 MP3). Answer:
JSON ``{data: {url}, error_code: 0, error_message}``; ``error_code`` ≠ 0 is a failure. The audio is
then fetched from ``data.url`` (polled briefly until it exists).
"""

from __future__ import annotations

import time

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsError
from loaxa_speech.tts.engines.cloud.base import CloudEngine
from loaxa_speech.tts.engines.cloud.fetch import fetch_when_ready
from loaxa_speech.tts.voices import CATALOGUE, speed_factor

ENCODE_MP3 = "1"


class ZaloEngine(CloudEngine):
    name = "zalo"
    provider = "Zalo AI"
    key_env = "LOAXA_ZALO_TTS_KEY"
    default_base_url = "https://api.zalo.ai"
    default_voice = "2"
    voices = CATALOGUE["zalo"]

    def __init__(self, *, poll_interval_s: float = 0.5, timeout_s: float = 20.0, **kw: object) -> None:
        self.poll_interval_s = poll_interval_s
        super().__init__(timeout_s=timeout_s, **kw)  # type: ignore[arg-type]

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        deadline = time.monotonic() + self.timeout_s
        form = {"input": request.text, "speaker_id": voice,
                "speed": f"{speed_factor(request.rate_wpm, 0.8, 1.2):.1f}", "encode_type": ENCODE_MP3}
        reply = self.http.request("POST", f"{self.base_url}/v1/tts/synthesize", data=form, deadline=deadline,
                                  headers={"apikey": self.key()})
        data = reply.json()
        url = (data.get("data") or {}).get("url") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("error_code") != 0 or not isinstance(url, str):
            message = data.get("error_message") if isinstance(data, dict) else None
            raise TtsError(f"Zalo AI từ chối (refused): {self.http.redact(str(message or data))[:200]}")
        audio = fetch_when_ready(self.http, url, deadline, self.poll_interval_s)
        return SpeechResult(audio=audio, fmt="mp3", engine=self.name, voice=voice)
