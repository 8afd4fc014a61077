"""API keys of cloud voices: read once from a secret file or the environment, never shown.

A :class:`Secret` prints as ``<secret from env LOAXA_FPT_TTS_KEY>``; the value is only handed to the
HTTP request that needs it (:meth:`Secret.reveal`), and :meth:`Secret.redact` scrubs it from any
provider message before that message reaches a log, an exception or the API.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)


class Secret:
    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        if not value:
            raise ValueError(f"empty secret from {source}")
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***")

    def __repr__(self) -> str:
        return f"<secret from {self.source}>"

    __str__ = __repr__

    def __reduce__(self) -> object:  # never pickled into a job store or a cache by accident
        raise TypeError("secrets are not serialisable")


class SecretError(ValueError):
    """The configured key file cannot be used (the message names the file, never its content)."""


def load_secret(engine: str, api_key_file: str | Path | None, api_key_env: str | None) -> Secret | None:
    """The key from ``api_key_file`` (first) or the environment variable ``api_key_env``; None if neither is set.

    A key file readable by group or others is used but logged as a warning: on a shared HQ machine the
    People's Committee's paid account should be readable by the service user only (``chmod 600``).
    """
    if api_key_file:
        path = Path(api_key_file)
        try:
            mode = path.stat().st_mode
            value = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SecretError(f"{engine}: không đọc được tệp khoá {path} (cannot read key file: "
                              f"{err.strerror or type(err).__name__})") from err
        except UnicodeDecodeError as err:
            raise SecretError(f"{engine}: tệp khoá {path} không phải văn bản UTF-8 (key file is not text)") from err
        if not value:
            raise SecretError(f"{engine}: tệp khoá {path} trống (key file is empty)")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("%s: key file %s is readable by other users; chmod 600 it", engine, path)
        return Secret(value, f"file {path}")
    if api_key_env:
        value = os.environ.get(api_key_env, "").strip()
        if value:
            return Secret(value, f"env {api_key_env}")
    return None
