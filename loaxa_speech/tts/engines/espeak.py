"""espeak-ng: the offline engine of last resort — always available, but robotic.

Voices ``vi`` (Northern), ``vi-vn-x-central`` and ``vi-vn-x-south``. Text goes in on stdin (no
argument-length limit, no shell), WAV comes out on stdout. Synthesis is ~500× real time here.

Its Vietnamese is hard to follow: an offline recogniser understood 10 % of the words at espeak-ng's
default 175 wpm and 16 % at 140 wpm (natural speech: 91 %). So the default pace here is 140 wpm, the
quality class is ``robotic``, and the chain puts it last so that renderings by it are flagged.
"""

from __future__ import annotations

import shutil
import subprocess

from loaxa_speech.tts.engines.base import (
    Quality,
    SpeechRequest,
    SpeechResult,
    TtsEngine,
    TtsError,
    repair_streamed_wav,
)
from loaxa_speech.tts.voices import CATALOGUE

VOICES = tuple(v.id for v in CATALOGUE["espeak"])
#: More intelligible than espeak-ng's own 175 wpm (measured with a speech recogniser, see the docstring).
DEFAULT_RATE_WPM = 140


class EspeakEngine(TtsEngine):
    name = "espeak"
    default_voice = "vi"
    quality = Quality.ROBOTIC
    voices = CATALOGUE["espeak"]

    def __init__(self, binary: str = "espeak-ng", timeout_s: float = 60.0,
                 default_rate_wpm: int = DEFAULT_RATE_WPM) -> None:
        self.binary = binary
        self.timeout_s = timeout_s
        self.default_rate_wpm = default_rate_wpm

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        voice = request.voice or self.default_voice
        if voice not in VOICES:
            raise TtsError(f"espeak voice {voice!r} is not one of {', '.join(VOICES)}")
        exe = shutil.which(self.binary)
        if exe is None:
            raise TtsError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
        try:
            proc = subprocess.run(
                [exe, "-v", voice, "-s", str(request.rate_wpm or self.default_rate_wpm), "--stdout"],
                input=request.text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise TtsError(f"espeak-ng took longer than {self.timeout_s}s") from err
        if proc.returncode != 0:
            raise TtsError(f"espeak-ng exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
        return SpeechResult(audio=repair_streamed_wav(proc.stdout), fmt="wav", engine=self.name, voice=voice)
