"""HTTP for cloud voices: hard timeouts, size caps, and every failure translated into plain words.

One place decides what a provider's failure means to a broadcaster:

* no DNS / connection refused / timeout / TLS failure / 401 / 403 / 404 / 429 / 5xx →
  :class:`EngineUnavailable` (the chain skips the provider for a cool-down and says why);
* other 4xx → :class:`TtsError` (this text or voice was refused; the next engine is tried).

Messages are Vietnamese first, English in parentheses, and pass through every known secret's
:meth:`Secret.redact` — a provider that echoes the key back in an error never gets it into a log.
``requests`` is imported lazily: a node that uses no cloud voice never loads it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loaxa_speech.tts.engines.base import EngineUnavailable, TtsError
from loaxa_speech.tts.secrets import Secret

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise TtsError(f"trả lời không phải JSON (reply is not JSON: {err})") from err

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type or self.body[:1] in (b"{", b"[")


def status_error(provider: str, status: int, detail: str) -> TtsError:
    detail = f": {detail}" if detail else ""
    if status in (401, 403):
        return EngineUnavailable(f"khoá API bị từ chối (API key rejected, HTTP {status}{detail})")
    if status == 402 or status == 429:
        return EngineUnavailable(f"hết hạn mức hoặc gọi quá nhanh (quota or rate limit, HTTP {status}{detail})")
    if status == 404:
        return EngineUnavailable(f"sai địa chỉ dịch vụ (endpoint not found, HTTP 404: check base_url/region{detail})")
    if status >= 500:
        return EngineUnavailable(f"dịch vụ {provider} đang lỗi (provider error, HTTP {status}{detail})")
    return TtsError(f"yêu cầu bị từ chối (request refused, HTTP {status}{detail})")


def network_error(err: Exception, timeout_s: float) -> EngineUnavailable:
    import requests

    text = str(err)
    if isinstance(err, requests.exceptions.SSLError):
        return EngineUnavailable("chứng chỉ TLS không hợp lệ (TLS verification failed)")
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return EngineUnavailable(f"không kết nối được trong {timeout_s:.0f} giây (connection timed out)")
    if isinstance(err, requests.exceptions.Timeout):
        return EngineUnavailable(f"dịch vụ không trả lời trong {timeout_s:.0f} giây (no answer within "
                                 f"{timeout_s:.0f}s)")
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text \
            or "Temporary failure in name resolution" in text:
        return EngineUnavailable("không có Internet: không tra được tên máy chủ (no Internet: DNS lookup failed)")
    if "Connection refused" in text:
        return EngineUnavailable("máy chủ từ chối kết nối (connection refused)")
    return EngineUnavailable(f"không kết nối được (connection failed: {type(err).__name__})")


class HttpClient:
    """Requests to one provider with connect/read timeouts, a total deadline and a reply size cap."""

    def __init__(self, provider: str, timeout_s: float, secrets: Sequence[Secret | None] = (),
                 verify: bool | str = True, max_bytes: int = MAX_REPLY_BYTES) -> None:
        self.provider = provider
        self.timeout_s = timeout_s
        self.secrets = [s for s in secrets if s is not None]
        self.verify = verify
        self.max_bytes = max_bytes

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = secret.redact(text)
        return text

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                data: bytes | Mapping[str, str] | None = None, json_body: Any = None,
                deadline: float | None = None, ok: Sequence[int] = (200,)) -> Reply:
        """One request; a reply whose status is not in ``ok`` raises the translated error."""
        import requests

        deadline = deadline if deadline is not None else time.monotonic() + self.timeout_s
        remaining = max(0.1, deadline - time.monotonic())
        try:
            with requests.request(method, url, headers=dict(headers or {}), data=data, json=json_body,
                                  timeout=(min(5.0, remaining), remaining), verify=self.verify, stream=True,
                                  allow_redirects=False) as resp:
                body = self._read(resp, deadline)
                reply = Reply(resp.status_code, resp.headers.get("Content-Type", ""), body)
        except requests.exceptions.RequestException as err:
            raise self._scrubbed(network_error(err, self.timeout_s)) from None
        if reply.status not in ok:
            raise self._scrubbed(status_error(self.provider, reply.status, self.detail(reply)))
        return reply

    def _read(self, resp: Any, deadline: float) -> bytes:
        chunks, size = [], 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise TtsError(f"trả lời quá lớn (reply over {self.max_bytes // 1024 // 1024} MiB)")
            if time.monotonic() > deadline:
                raise EngineUnavailable(f"quá thời hạn {self.timeout_s:.0f} giây khi nhận âm thanh "
                                        f"(deadline exceeded while receiving)")
            chunks.append(chunk)
        return b"".join(chunks)

    def detail(self, reply: Reply) -> str:
        """A short, secret-free description of a provider's error body (JSON message fields or text)."""
        text = ""
        if reply.is_json:
            try:
                data = reply.json()
            except TtsError:
                data = None
            text = _message_of(data)
        if not text and reply.content_type.startswith("text/"):
            text = reply.body[:300].decode("utf-8", errors="replace")
        return self.redact(" ".join(text.split()))[:200]

    def _scrubbed(self, err: TtsError) -> TtsError:
        err.args = (self.redact(str(err)),)
        return err


def _message_of(data: Any) -> str:
    """The human part of a JSON error, whatever the provider calls it."""
    if isinstance(data, dict):
        for key in ("error", "message", "error_message", "en_message", "vi_message", "msg", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                inner = _message_of(value)
                if inner:
                    return inner
    return ""
