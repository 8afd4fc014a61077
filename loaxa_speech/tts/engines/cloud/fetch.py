"""Fetching the audio file an asynchronous provider (FPT.AI, Zalo AI) links to, once it exists.

Those APIs answer with a URL before the file is ready ("available within seconds"); until then the
file server answers 404 (or 403). We poll at ``interval_s`` until the engine's deadline, and only
http(s) URLs are followed: a provider reply must not make HQ read a local file.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

from loaxa_speech.tts.engines.base import EngineUnavailable, TtsError
from loaxa_speech.tts.engines.http import HttpClient

NOT_READY = (403, 404)


def fetch_when_ready(http: HttpClient, url: str, deadline: float, interval_s: float = 0.5) -> bytes:
    if urlparse(url).scheme not in ("http", "https"):
        raise TtsError(f"{http.provider} trả về địa chỉ âm thanh không hợp lệ (bad audio link scheme)")
    while True:
        reply = http.request("GET", url, deadline=deadline, ok=(200, *NOT_READY))
        if reply.status == 200 and reply.body:
            return reply.body
        if time.monotonic() + interval_s > deadline:
            raise EngineUnavailable(f"{http.provider} chưa tạo xong âm thanh trong {http.timeout_s:.0f} giây "
                                    f"(audio not ready before the deadline)")
        time.sleep(interval_s)
