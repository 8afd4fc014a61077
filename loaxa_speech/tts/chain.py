"""The engine chain: try each configured engine in order, first success wins.

Order on a node: gTTS (needs the Internet) → offline engines (espeak-ng voices, a local neural
voice when installed). The chain never returns empty or broken audio (the engine base class
refuses it) and reports every engine's failure when all fail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsEngine, TtsError

logger = logging.getLogger(__name__)


class TtsChain:
    def __init__(self, engines: Sequence[TtsEngine]) -> None:
        if not engines:
            raise ValueError("a TTS chain needs at least one engine")
        self.engines = list(engines)

    def synthesize(self, request: SpeechRequest) -> SpeechResult:
        errors = []
        for engine in self.engines:
            try:
                return engine.synthesize(request)
            except TtsError as err:
                logger.warning("TTS engine %s failed: %s; trying the next", engine.name, err)
                errors.append(f"{engine.name}: {err}")
        raise TtsError("all TTS engines failed — " + "; ".join(errors))
