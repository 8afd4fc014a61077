"""piper: a local neural voice, used when a Vietnamese model (``vi_VN-*.onnx``) is installed.

No Vietnamese piper voice ships on PyPI and nothing is downloaded by the node; a technician copies
the model and its ``.onnx.json`` next to it and lists ``piper`` in ``tts.engines``. Until then
``available()`` is false and the chain skips to the next engine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsEngine, TtsError


class PiperEngine(TtsEngine):
    name = "piper"
    default_voice = "vi_VN"

    def __init__(self, model: str | None = None, binary: str = "piper", timeout_s: float = 60.0) -> None:
        self.model = Path(model) if model else None
        self.binary = binary
        self.timeout_s = timeout_s

    def available(self) -> bool:
        return shutil.which(self.binary) is not None and self.model is not None and self.model.is_file()

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        if not self.available():
            raise TtsError(f"piper not usable: binary {self.binary!r} or model {self.model} missing")
        scale = f"{150 / max(request.rate_wpm, 1):.2f}"  # length scale: > 1 is slower
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.wav"
            try:
                proc = subprocess.run([self.binary, "--model", str(self.model), "--length_scale", scale,
                                       "--output_file", str(out)], input=request.text.encode("utf-8"),
                                      capture_output=True, timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired as err:
                raise TtsError(f"piper took longer than {self.timeout_s}s") from err
            if proc.returncode != 0 or not out.exists():
                raise TtsError(f"piper exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}")
            return SpeechResult(audio=out.read_bytes(), fmt="wav", engine=self.name, voice=str(self.model.stem))
