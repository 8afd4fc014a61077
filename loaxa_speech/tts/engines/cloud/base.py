"""What every cloud voice shares: its API key (file or environment, never logged), base URL, HTTP client.

Subclasses implement ``_synthesize`` with their provider's documented request; the key is loaded when
the engine is built (configuration time), so a missing or unreadable key file is reported at start-up
and by ``available()``, not discovered in the middle of an emergency bulletin.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

from loaxa_speech.tts.engines.base import EngineUnavailable, TtsEngine
from loaxa_speech.tts.engines.http import HttpClient
from loaxa_speech.tts.secrets import Secret, SecretError, load_secret

logger = logging.getLogger(__name__)


class CloudEngine(TtsEngine):
    provider: ClassVar[str] = "cloud"
    key_env: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""

    def __init__(self, *, api_key_file: str | Path | None = None, api_key_env: str | None = None,
                 base_url: str | None = None, timeout_s: float = 15.0, verify: bool | str = True,
                 default_voice: str | None = None) -> None:
        self.timeout_s = timeout_s
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        if default_voice:
            self.default_voice = default_voice
        self.problem: str | None = None
        self.secret: Secret | None = None
        try:
            self.secret = load_secret(self.name, api_key_file, api_key_env or self.key_env)
        except SecretError as err:
            self.problem = str(err)
            logger.warning("%s", err)
        if self.secret is None and self.problem is None:
            self.problem = (f"chưa cấu hình khoá API cho {self.provider} (no API key: set api_key_file or the "
                            f"environment variable {api_key_env or self.key_env})")
        self.http = HttpClient(self.provider, timeout_s, [self.secret], verify)

    def available(self) -> bool:
        return self.secret is not None

    def unavailable_reason(self) -> str | None:
        return None if self.secret is not None else self.problem

    def key(self) -> str:
        if self.secret is None:
            raise EngineUnavailable(self.problem or f"{self.provider}: no API key")
        return self.secret.reveal()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} key={self.secret!r}>"
