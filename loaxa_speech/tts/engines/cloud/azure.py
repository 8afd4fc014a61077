"""Azure AI Speech text to speech (REST ``cognitiveservices/v1``, SSML) with the vi-VN neural voices.

Request: ``POST https://{region}.tts.speech.microsoft.com/cognitiveservices/v1`` with headers
``Ocp-Apim-Subscription-Key``, ``Content-Type: application/ssml+xml``, ``X-Microsoft-OutputFormat:
riff-24khz-16bit-mono-pcm`` and a ``User-Agent``; the body is SSML with ``xml:lang="vi-VN"``, the voice
(``vi-VN-HoaiMyNeural``, ``vi-VN-NamMinhNeural``) and a ``prosody`` rate. The text is XML-escaped: a
bulletin containing "&" or "<" must not break (or inject into) the SSML. Answer: a RIFF WAV; errors are
HTTP statuses (400 bad SSML, 401 key, 429 throttled, 5xx).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult
from loaxa_speech.tts.engines.cloud.base import CloudEngine
from loaxa_speech.tts.voices import CATALOGUE, speed_factor

OUTPUT_FORMAT = "riff-24khz-16bit-mono-pcm"


def ssml(text: str, voice: str, rate_wpm: int | None) -> str:
    percent = round((speed_factor(rate_wpm, 0.5, 2.0) - 1.0) * 100)
    return (f"<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='vi-VN'>"
            f"<voice name={quoteattr(voice)}><prosody rate='{percent:+d}%'>{escape(text)}</prosody></voice></speak>")


class AzureSpeechEngine(CloudEngine):
    name = "azure"
    provider = "Azure Speech"
    key_env = "LOAXA_AZURE_SPEECH_KEY"
    default_voice = "vi-VN-HoaiMyNeural"
    voices = CATALOGUE["azure"]

    def __init__(self, *, region: str = "southeastasia", base_url: str | None = None, **kw: object) -> None:
        self.region = region
        super().__init__(base_url=base_url or f"https://{region}.tts.speech.microsoft.com", **kw)  # type: ignore[arg-type]

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        reply = self.http.request(
            "POST", f"{self.base_url}/cognitiveservices/v1",
            data=ssml(request.text, voice, request.rate_wpm).encode("utf-8"),
            headers={"Ocp-Apim-Subscription-Key": self.key(), "Content-Type": "application/ssml+xml",
                     "X-Microsoft-OutputFormat": OUTPUT_FORMAT, "User-Agent": "loaxa-hq"})
        return SpeechResult(audio=reply.body, fmt="wav", engine=self.name, voice=voice)
