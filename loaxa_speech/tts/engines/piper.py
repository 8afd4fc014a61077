"""piper: an offline neural voice — a Piper/VITS ONNX model run with onnxruntime, on HQ or a node.

The operator installs the voice files (``<voice>.onnx`` and ``<voice>.onnx.json``; see docs/speech.md
for Vietnamese voices and their licences) and names the model in ``engine_options: {piper: {model:
/opt/loaxa/voices/vi_VN-vais1000-medium.onnx}}``. Nothing is ever downloaded.

Licences stay clean: the Piper program itself is GPL-3.0 nowadays, so it is not used. This module runs
the model with onnxruntime (MIT) in process and gets the phonemes Piper voices are trained on from the
``espeak-ng`` program (GPL-3.0) in a **separate process**, exactly as the espeak engine already does:
``espeak-ng -q --ipa -v <the model's espeak voice>``, one clause per line. The phonemes are mapped to
ids with the model's own ``phoneme_id_map`` (``^`` start, ``_`` between phonemes, ``$`` end, clause
punctuation kept), and each sentence is one inference; sentences are joined with a short pause.

The session is loaded on first use (a node that lists piper but never needs it pays nothing) and kept.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import threading
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaxa_speech.tts.engines.base import EngineUnavailable, SpeechRequest, SpeechResult, TtsEngine, TtsError
from loaxa_speech.tts.voices import NATURAL_WPM, Voice

logger = logging.getLogger(__name__)

PAD, BOS, EOS = "_", "^", "$"
_CLAUSE_RE = re.compile(r"([^,;:.!?…\n]+)([,;:.!?…]*)")
_SENTENCE_END = frozenset(".!?")
SENTENCE_GAP_S = 0.25


@dataclass(frozen=True)
class VoiceConfig:
    """What the ``.onnx.json`` next to a Piper model says (only the fields inference needs)."""

    sample_rate: int
    espeak_voice: str
    language: str
    noise_scale: float
    length_scale: float
    noise_w: float
    num_speakers: int
    phoneme_id_map: dict[str, list[int]]

    @classmethod
    def load(cls, path: Path) -> VoiceConfig:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if data.get("phoneme_type", "espeak") != "espeak":
                raise ValueError(f"phoneme_type {data.get('phoneme_type')!r} is not supported (espeak only)")
            inference = data.get("inference", {})
            return cls(sample_rate=int(data["audio"]["sample_rate"]), espeak_voice=str(data["espeak"]["voice"]),
                       language=str(data.get("language", {}).get("code", "")),
                       noise_scale=float(inference.get("noise_scale", 0.667)),
                       length_scale=float(inference.get("length_scale", 1.0)),
                       noise_w=float(inference.get("noise_w", 0.8)),
                       num_speakers=int(data.get("num_speakers", 1)),
                       phoneme_id_map={str(k): [int(i) for i in v] for k, v in data["phoneme_id_map"].items()})
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise TtsError(f"tệp cấu hình giọng {path} không dùng được (voice config unusable: {err})") from err


def clauses(text: str) -> list[tuple[str, str]]:
    """Text → [(words, punctuation)]: the unit espeak-ng phonemises and the pause marks Piper was trained on."""
    out = []
    for words, punct in _CLAUSE_RE.findall(text):
        if words.strip():
            mark = punct[:1].replace("…", ".") if punct else ""
            out.append((words.strip(), mark))
    return out


def phoneme_ids(sentence: list[tuple[str, str]], id_map: dict[str, list[int]]) -> tuple[list[int], int]:
    """Piper's id sequence for one sentence of (phonemes, punctuation) clauses; also how many were unknown."""
    ids = [*id_map[BOS], *id_map[PAD]]
    unknown = 0
    for n, (phonemes, punct) in enumerate(sentence):
        text = unicodedata.normalize("NFD", phonemes) + punct + (" " if n < len(sentence) - 1 else "")
        for ch in text:
            if ch in id_map:
                ids += [*id_map[ch], *id_map[PAD]]
            else:
                unknown += 1
    ids += id_map[EOS]
    return ids, unknown


class PiperEngine(TtsEngine):
    name = "piper"
    default_voice = "piper"

    def __init__(self, model: str | None = None, config: str | None = None, espeak_binary: str = "espeak-ng",
                 threads: int = 0, speaker: int | None = None, timeout_s: float = 60.0,
                 gender: str | None = None, accent: str | None = None, accept_other_language: bool = False,
                 memory_arena: bool = False) -> None:
        self.model = Path(model) if model else None
        self.config_path = Path(config) if config else (Path(f"{model}.json") if model else None)
        self.espeak_binary = espeak_binary
        self.threads = threads
        self.speaker = speaker
        self.timeout_s = timeout_s
        self.accept_other_language = accept_other_language
        self.memory_arena = memory_arena
        self.default_voice = self.model.name.removesuffix(".onnx") if self.model else "piper"
        if gender and accent:  # what the installed voice is, so gender/accent wishes can pick it
            self.voices = (Voice(self.default_voice, gender, accent, f"Piper {self.default_voice}"),)  # type: ignore[misc, arg-type]
        self._session: Any = None
        self._config: VoiceConfig | None = None
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        if self.model is None:
            return "chưa cấu hình tệp giọng (no model: set engine_options.piper.model)"
        if not self.model.is_file():
            return f"không có tệp giọng {self.model} (model file missing)"
        if self.config_path is None or not self.config_path.is_file():
            return f"không có tệp cấu hình {self.config_path} (model .onnx.json missing)"
        if shutil.which(self.espeak_binary) is None:
            return "espeak-ng chưa cài (needed for phonemes: apt-get install espeak-ng)"
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime chưa cài (pip install onnxruntime)"
        return None

    def available(self) -> bool:
        return self.problem() is None

    def unavailable_reason(self) -> str | None:
        return self.problem()

    def load(self) -> tuple[Any, VoiceConfig]:
        """The inference session and voice config, loaded once (thread-safe)."""
        with self._lock:
            if self._session is None:
                if (why := self.problem()) is not None:
                    raise EngineUnavailable(why)
                import onnxruntime as ort

                assert self.model is not None and self.config_path is not None
                self._config = VoiceConfig.load(self.config_path)
                options = ort.SessionOptions()
                options.enable_cpu_mem_arena = self.memory_arena  # off: memory goes back after each sentence
                if self.threads:
                    options.intra_op_num_threads = self.threads
                self._session = ort.InferenceSession(str(self.model), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
                logger.info("piper voice %s loaded (%d Hz, espeak voice %s)", self.model.name,
                            self._config.sample_rate, self._config.espeak_voice)
            assert self._config is not None
            return self._session, self._config

    def phonemize(self, parts: list[tuple[str, str]], espeak_voice: str) -> list[str]:
        """IPA phonemes per clause from the espeak-ng program (a separate process: GPL stays outside)."""
        lines = [words for words, _ in parts]
        out = self._espeak("\n".join(lines) + "\n", espeak_voice)
        if len(out) == len(lines):
            return out
        return [" ".join(self._espeak(line + "\n", espeak_voice)) for line in lines]  # espeak split a clause

    def _espeak(self, text: str, voice: str) -> list[str]:
        try:
            proc = subprocess.run([self.espeak_binary, "-q", "--ipa", "-v", voice], input=text.encode("utf-8"),
                                  capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise TtsError(f"espeak-ng phonemes failed: {err}") from err
        if proc.returncode != 0:
            raise TtsError(f"espeak-ng exited {proc.returncode}: {proc.stderr.decode(errors='replace')[:200]}")
        return [line.strip() for line in proc.stdout.decode("utf-8", errors="replace").splitlines() if line.strip()]

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        import numpy as np

        session, cfg = self.load()
        family = cfg.language.split("_")[0]
        if family and family != request.lang and not self.accept_other_language:
            raise TtsError(f"giọng {self.default_voice} là tiếng {cfg.language}, không đọc được tiếng {request.lang} "
                           f"(voice language mismatch)")
        parts = clauses(request.text)
        if not parts:
            raise TtsError("nothing to say")
        phonemes = self.phonemize(parts, cfg.espeak_voice)
        length_scale = cfg.length_scale * (NATURAL_WPM / request.rate_wpm if request.rate_wpm else 1.0)
        scales = np.array([cfg.noise_scale, length_scale, cfg.noise_w], dtype=np.float32)
        audio: list[Any] = []
        sentence: list[tuple[str, str]] = []
        for (_, punct), ph in zip(parts, phonemes, strict=True):
            sentence.append((ph, punct))
            if punct in _SENTENCE_END or len(sentence) == len(parts):
                audio.append(self._infer(session, cfg, sentence, scales))
                audio.append(np.zeros(int(cfg.sample_rate * SENTENCE_GAP_S), dtype=np.float32))
                sentence = []
        if sentence:
            audio.append(self._infer(session, cfg, sentence, scales))
        samples = np.concatenate(audio)
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        if peak > 1.0:
            samples = samples / peak
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(cfg.sample_rate)
            w.writeframes(pcm)
        return SpeechResult(audio=buf.getvalue(), fmt="wav", engine=self.name, voice=self.default_voice)

    def _infer(self, session: Any, cfg: VoiceConfig, sentence: list[tuple[str, str]], scales: Any) -> Any:
        import numpy as np

        ids, unknown = phoneme_ids(sentence, cfg.phoneme_id_map)
        if unknown:
            logger.debug("piper: %d phoneme(s) not in the voice's map were skipped", unknown)
        feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": scales}
        if cfg.num_speakers > 1:
            feeds["sid"] = np.array([self.speaker or 0], dtype=np.int64)
        try:
            out = session.run(None, feeds)[0]
        except Exception as err:  # onnxruntime raises its own types; the model or input is wrong
            raise TtsError(f"piper inference failed: {type(err).__name__}: {str(err)[:200]}") from err
        return out.reshape(-1).astype(np.float32)
