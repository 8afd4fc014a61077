"""TTS engines: each implements :meth:`TtsEngine._synthesize`; the base class does the checks."""
