"""Google Cloud Text-to-Speech (REST ``v1/text:synthesize``) with its vi-VN voices.

Request: ``POST {base_url}/v1/text:synthesize`` with the API key in the ``X-Goog-Api-Key`` header (never
in the URL, where it would end up in logs), JSON ``{input: {text}, voice: {languageCode: vi-VN, name},
audioConfig: {audioEncoding: LINEAR16, sampleRateHertz, speakingRate}}``. Answer: ``{audioContent}``,
base64 of a WAV (LINEAR16 comes with a RIFF header). Errors: ``{error: {code, message, status}}``.
All of Google's Vietnamese voices are Northern; an accent wish falls back to them.
"""

from __future__ import annotations

import base64
import binascii

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsError
from loaxa_speech.tts.engines.cloud.base import CloudEngine
from loaxa_speech.tts.voices import CATALOGUE, speed_factor


class GoogleCloudEngine(CloudEngine):
    name = "google"
    provider = "Google Cloud"
    key_env = "LOAXA_GOOGLE_TTS_KEY"
    default_base_url = "https://texttospeech.googleapis.com"
    default_voice = "vi-VN-Wavenet-A"
    voices = CATALOGUE["google"]
    sample_rate_hz = 24000

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        body = {"input": {"text": request.text},
                "voice": {"languageCode": "vi-VN", "name": voice},
                "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": self.sample_rate_hz,
                                "speakingRate": speed_factor(request.rate_wpm, 0.25, 4.0)}}
        reply = self.http.request("POST", f"{self.base_url}/v1/text:synthesize", json_body=body,
                                  headers={"X-Goog-Api-Key": self.key(),
                                           "Content-Type": "application/json; charset=utf-8"})
        content = reply.json().get("audioContent") if isinstance(reply.json(), dict) else None
        if not isinstance(content, str):
            raise TtsError("Google Cloud không trả âm thanh (no audioContent in the reply)")
        try:
            audio = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as err:
            raise TtsError("Google Cloud trả âm thanh hỏng (audioContent is not base64)") from err
        return SpeechResult(audio=audio, fmt="wav", engine=self.name, voice=voice)
