"""Viettel AI text to speech (``POST {base_url}/tts/speech_synthesis``, JSON, audio in the reply).

Request JSON: ``text``, ``voice`` (hn-quynhanh, hn-thanhtung, hue-maingoc, hue-baoquoc, hcm-diemmy,
hcm-minhquan …), ``speed`` (0.8–1.2), ``tts_return_option`` (2 = WAV, 3 = MP3), ``without_filter`` and
the account ``token`` — in the body, which is why request bodies are never logged. Answer: the audio
bytes; a JSON body instead of audio is the provider's error message.
"""

from __future__ import annotations

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsError
from loaxa_speech.tts.engines.cloud.base import CloudEngine
from loaxa_speech.tts.voices import CATALOGUE, speed_factor

RETURN_WAV = 2


class ViettelEngine(CloudEngine):
    name = "viettel"
    provider = "Viettel AI"
    key_env = "LOAXA_VIETTEL_TTS_TOKEN"
    default_base_url = "https://viettelai.vn"
    default_voice = "hn-quynhanh"
    voices = CATALOGUE["viettel"]

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        body = {"text": request.text, "voice": voice, "speed": speed_factor(request.rate_wpm, 0.8, 1.2),
                "tts_return_option": RETURN_WAV, "token": self.key(), "without_filter": False}
        reply = self.http.request("POST", f"{self.base_url}/tts/speech_synthesis", json_body=body,
                                  headers={"accept": "*/*"})
        if reply.is_json:
            raise TtsError(f"Viettel AI từ chối (refused): {self.http.detail(reply) or 'no audio'}")
        return SpeechResult(audio=reply.body, fmt="wav", engine=self.name, voice=voice)
