"""Engine registry: names in the node config → engine instances; pluggable by dotted path.

Built-in: ``gtts``, ``espeak``, ``piper`` (a local neural voice, when a Vietnamese model is
installed). Anything else is ``package.module:ClassName``, a :class:`TtsEngine` subclass taking the
options as keyword arguments.
"""

from __future__ import annotations

import importlib
from typing import Any

from loaxa_speech.tts.engines.base import TtsEngine


def build_engine(name: str, options: dict[str, Any] | None = None) -> TtsEngine:
    opts = dict(options or {})
    if name == "gtts":
        from loaxa_speech.tts.engines.gtts import GttsEngine

        return GttsEngine(**opts)
    if name == "espeak":
        from loaxa_speech.tts.engines.espeak import EspeakEngine

        return EspeakEngine(**opts)
    if name == "piper":
        from loaxa_speech.tts.engines.piper import PiperEngine

        return PiperEngine(**opts)
    module, sep, cls_name = name.partition(":")
    if not sep:
        raise ValueError(f"unknown TTS engine {name!r}: use gtts, espeak, piper or 'package.module:Class'")
    cls = getattr(importlib.import_module(module), cls_name)
    if not (isinstance(cls, type) and issubclass(cls, TtsEngine)):
        raise ValueError(f"{name} is not a TtsEngine subclass")
    return cls(**opts)
