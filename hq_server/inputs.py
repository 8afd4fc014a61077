"""Limits and checks for everything a client sends HQ, before a route looks at it. Pure: no aiohttp.

Why one module: a bad input must be a 400 with the field it concerns, never a 500 from deep inside
(``json`` recursing, SQLite overflowing on a 30-digit id, ``datetime`` overflowing near year 9999, the
database driver choking on a lone UTF-16 surrogate). Checking at the edge, once, with the same rules
for every route, is what makes "no 5xx on bad input" hold for routes written later too. The HTTP
glue (:mod:`hq_server.web`) turns :class:`InputError` into the JSON error answer.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from hq_server.errors import ApiError
from hq_server.localtime import CommuneDatetime

MAX_JSON_BYTES = 256 * 1024
"""Largest JSON body: a bulletin to 2 000 named nodes is about 140 KiB."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of a JSON body (the deepest route model, a programme window's ``days``, needs 4)."""
MAX_JSON_ITEMS = 20_000
"""Most values (objects, arrays, strings, numbers…) in one JSON body."""
MAX_PARAM_CHARS = 200
"""Longest path or query parameter value."""
DB_INT_MAX = 2**31 - 1
"""Largest integer id: PostgreSQL ``integer`` columns (SQLite takes larger, but the API is the same)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Instants outside these bounds are client mistakes (and near year 1 or 9999 arithmetic overflows)."""
MAX_TZ_CHARS = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class InputError(ApiError):
    """A client input refused at the edge: always a 4xx (usually 400) with the offending field."""

    def __init__(self, field: str, message: str, status: int = 400, detail: str | None = None) -> None:
        super().__init__(status, message, {field: detail or message})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_limited(raw: bytes) -> Any:
    """Parse a JSON body with size, depth, item and text checks; :class:`InputError` says what is wrong."""
    if len(raw) > MAX_JSON_BYTES:
        raise InputError("body", f"Nội dung quá lớn (JSON body over {MAX_JSON_BYTES // 1024} KiB)", 413)
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise InputError("body", "Nội dung không phải UTF-8 (body is not UTF-8)", detail=str(err)[:120]) from err
    except RecursionError as err:
        raise _too_deep() from err
    except json.JSONDecodeError as err:
        raise InputError("body", f"Nội dung không phải JSON hợp lệ (invalid JSON): {err.msg} at line {err.lineno} "
                                 f"column {err.colno}", detail=err.msg) from err
    except ValueError as err:  # NaN/Infinity, or an integer over Python's 4 300-digit limit
        raise InputError("body", f"Số không hợp lệ trong JSON (invalid number): {str(err)[:100]}") from err
    check_tree(data)
    return data


def _too_deep() -> InputError:
    return InputError("body", f"JSON lồng quá sâu (nested deeper than {MAX_JSON_DEPTH} levels)")


def check_tree(data: Any) -> None:
    """Depth, item count, finite numbers and well-formed text of a parsed JSON value (iterative: no recursion)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    items = 0
    while stack:
        value, depth, path = stack.pop()
        items += 1
        if items > MAX_JSON_ITEMS:
            raise InputError("body", f"JSON có quá nhiều phần tử (more than {MAX_JSON_ITEMS} values)")
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in pairs:
                if isinstance(key, str):
                    check_text(key, _join(path, key))
                stack.append((child, depth + 1, _join(path, key)))
        elif isinstance(value, str):
            check_text(value, path or "body")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(path or "body", "Số không hữu hạn (number out of range)")


def _join(path: str, key: object) -> str:
    part = str(key)[:40]
    return f"{path}.{part}" if path else part


def check_text(value: str, field: str) -> str:
    """Text the database and JSON encoders can store: no lone UTF-16 surrogate (``\\ud800``)."""
    if _SURROGATE.search(value):
        raise InputError(field, "Văn bản chứa ký tự không hợp lệ (text contains a lone UTF-16 surrogate)")
    return value


def check_param(name: str, value: str) -> str:
    """A path or query parameter: bounded, printable, no surrogate (before any route or query sees it)."""
    if len(value) > MAX_PARAM_CHARS:
        raise InputError(name, f"Tham số quá dài (parameter longer than {MAX_PARAM_CHARS} characters)")
    if _CONTROL.search(value):
        raise InputError(name, "Tham số chứa ký tự điều khiển (parameter contains control characters)")
    return check_text(value, name)


def bounded_int(name: str, raw: str | None, default: int, lo: int, hi: int) -> int:
    """A query parameter that must be an integer in ``lo..hi`` (``?limit=-1`` is an error, not "everything")."""
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw.strip()):
        raise InputError(name, f"{name} phải là số nguyên {lo}–{hi} ({name} must be an integer {lo}-{hi})")
    value = int(raw)
    if not lo <= value <= hi:
        raise InputError(name, f"{name} phải trong khoảng {lo}–{hi} ({name} must be between {lo} and {hi})")
    return value


def db_id(name: str, raw: str) -> int:
    """An integer row id from the path or query: 1..2³¹−1 (larger ones overflow the database driver)."""
    if not raw:
        raise InputError(name, "Thiếu mã (missing id)")
    return bounded_int(name, raw, 0, 1, DB_INT_MAX)


def check_instant(value: datetime) -> datetime:
    """An instant in the years 2000–2099 (pydantic ``AfterValidator``; the message becomes the field error).

    The year is checked on the value's own clock, before any arithmetic: converting 0001-01-01T00:00+07:00
    to UTC already overflows.
    """
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError("thời điểm phải trong khoảng năm 2000–2100 (instant must be between 2000 and 2100)")
    return value


ApiInstant = Annotated[CommuneDatetime, AfterValidator(check_instant)]
"""Every instant a client sends (send_at, expires_at, relay_end_at): naive = commune time, years 2000–2099."""


def query_instant(name: str, raw: str | None, local: ZoneInfo) -> datetime | None:
    """An ISO-8601 date or instant from the query (naive = ``local``), within the same bounds."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as err:
        raise InputError(name, "Ngày không hợp lệ (invalid date)", detail="use ISO-8601, e.g. 2026-03-01") from err
    if not EARLIEST.year <= value.year < LATEST.year:
        raise InputError(name, "Ngày phải trong khoảng năm 2000–2100 (date must be between 2000 and 2100)")
    return value if value.tzinfo else value.replace(tzinfo=local)


def calendar_date(value: str) -> date:
    """A ``YYYY-MM-DD`` that exists in the calendar (``2026-02-30`` does not) and lies in 2000–2100."""
    try:
        day = date.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"ngày {value!r} không có trên lịch (not a calendar date)") from err
    if not EARLIEST.year <= day.year < LATEST.year:
        raise ValueError("ngày phải trong khoảng năm 2000–2100 (date must be between 2000 and 2100)")
    return day


def check_timezone(name: str) -> str:
    """An IANA time zone name HQ and the nodes can load (bounded: a 10 000-character name is not a path)."""
    if len(name) > MAX_TZ_CHARS or not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", name):
        raise ValueError("múi giờ không hợp lệ (unknown IANA time zone, e.g. Asia/Ho_Chi_Minh)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError("múi giờ không hợp lệ (unknown IANA time zone, e.g. Asia/Ho_Chi_Minh)") from err
    return name
