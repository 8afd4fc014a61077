"""espeak-ng: the offline engine, always available on a node when the 4G link is gone.

Voices ``vi`` (Northern), ``vi-vn-x-central`` and ``vi-vn-x-south``. Text goes in on stdin (no
argument-length limit, no shell), WAV comes out on stdout. Synthesis is ~500× real time here.
"""

from __future__ import annotations

import shutil
import subprocess

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsEngine, TtsError, repair_streamed_wav

VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")


class EspeakEngine(TtsEngine):
    name = "espeak"
    default_voice = "vi"
    voices = VOICES

    def __init__(self, binary: str = "espeak-ng", timeout_s: float = 60.0) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

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
                [exe, "-v", voice, "-s", str(request.rate_wpm), "--stdout"],
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
