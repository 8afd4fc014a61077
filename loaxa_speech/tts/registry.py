"""Engine registry: names in the node/HQ config → engine instances; pluggable by dotted path.

Built-in: ``gtts``, ``espeak``, ``piper`` (a local neural voice from installed model files), and the
cloud voices ``google``, ``azure``, ``fpt``, ``viettel``, ``zalo``. Anything else is
``package.module:ClassName``, a :class:`TtsEngine` subclass taking the options as keyword arguments.
Modules are imported only for the engines configured.
"""

from __future__ import annotations

import importlib
from typing import Any

from loaxa_speech.tts.engines.base import TtsEngine

_CLOUD = {"google": ("google", "GoogleCloudEngine"), "azure": ("azure", "AzureSpeechEngine"),
          "fpt": ("fpt", "FptEngine"), "viettel": ("viettel", "ViettelEngine"), "zalo": ("zalo", "ZaloEngine")}


BUILT_IN_ENGINES = ("gtts", "espeak", "piper", *_CLOUD)
"""Engine names a config may use as they are; anything else must be ``package.module:Class``."""


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
    if name in _CLOUD:
        module_name, cls_name = _CLOUD[name]
        cls = getattr(importlib.import_module(f"loaxa_speech.tts.engines.cloud.{module_name}"), cls_name)
        return cls(**opts)  # type: ignore[no-any-return]
    module, sep, cls_name = name.partition(":")
    if not sep:
        raise ValueError(f"unknown TTS engine {name!r}: use gtts, espeak, piper, google, azure, fpt, viettel, "
                         f"zalo or 'package.module:Class'")
    cls = getattr(importlib.import_module(module), cls_name)
    if not (isinstance(cls, type) and issubclass(cls, TtsEngine)):
        raise ValueError(f"{name} is not a TtsEngine subclass")
    return cls(**opts)
