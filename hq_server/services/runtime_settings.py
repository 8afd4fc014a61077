"""Settings operators change in the web UI, kept in HQ's database and applied at once: the alert webhook and the
order of the voices HQ renders with. They win over hq.yaml from the moment they are saved (also after a
restart: they are applied again at start-up); hq.yaml stays the default until someone changes them.

The commune-wide default programme is a desired setting of scope ``all`` (see
:mod:`hq_server.services.node_settings`), not stored here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.storage.tables import HqSetting, now
from loaxa_speech.tts.registry import BUILT_IN_ENGINES

logger = logging.getLogger(__name__)

WEBHOOK, ENGINES = "alert_webhook", "tts_engines"
MAX_ENGINES = 8


class SettingError(ValueError):
    """A value refused, with the field it concerns and a plain-words reason."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_webhook(url: str | None) -> str | None:
    """An http(s) URL with a host and no credentials, or None (no webhook). Pure."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError("url", "Địa chỉ phải bắt đầu bằng http:// hoặc https:// và có tên máy "
                                  "(must be an http(s) URL with a host)")
    if parts.username or parts.password:
        raise SettingError("url", "Không đặt mật khẩu trong địa chỉ (no credentials in the URL)")
    if any(c.isspace() for c in url) or len(url) > 2048:
        raise SettingError("url", "Địa chỉ không hợp lệ (invalid URL)")
    return url


def check_engines(names: list[str], known: tuple[str, ...] = BUILT_IN_ENGINES) -> list[str]:
    """A non-empty order of known engines, each once. Pure."""
    if not names:
        raise SettingError("engines", "Cần ít nhất một giọng đọc (at least one voice engine)")
    if len(names) > MAX_ENGINES:
        raise SettingError("engines", f"Tối đa {MAX_ENGINES} giọng đọc (at most {MAX_ENGINES})")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SettingError("engines", f"Không có giọng đọc {', '.join(unknown)}; có: {', '.join(known)} "
                                      f"(unknown engine)")
    if len(set(names)) != len(names):
        raise SettingError("engines", "Mỗi giọng đọc chỉ một lần (each engine once)")
    return names


@dataclass(frozen=True)
class Stored:
    value: dict[str, Any]
    updated_by: str
    updated_at: str


async def load(session: AsyncSession) -> dict[str, Stored]:
    return {r.key: Stored(r.value, r.updated_by, r.updated_at.isoformat())
            for r in (await session.scalars(select(HqSetting))).all()}


async def save(session: AsyncSession, key: str, value: dict[str, Any], user: str) -> None:
    row = await session.get(HqSetting, key)
    if row is None:
        row = HqSetting(key=key)
        session.add(row)
    row.value, row.updated_by, row.updated_at = value, user, now()
