"""Ordinals ("thứ 2", "lần thứ 3"), weekdays ("T2-T6") and Roman numerals in titles ("Quý IV").

Roman numerals are only read after a title word. Out of context "MIX", "CD" or "VI" are ordinary
upper-case words or abbreviations, and reading them as numbers would be a silent error.
"""

from __future__ import annotations

import re

from .numbers import read_int, read_ordinal, roman_to_int
from .rules import Rule

#: Words after which an upper-case Roman numeral is a number. Extend here, not in callers.
ROMAN_CONTEXT: tuple[str, ...] = (
    "quý", "khóa", "khoá", "thế kỷ", "thế kỉ", "chương", "phần", "mục", "đại hội", "hội nghị",
    "lần thứ", "thứ", "cấp", "loại", "giai đoạn", "tập", "kỳ", "kì", "phụ lục", "vùng", "đợt", "báo động", "mức",
)  # fmt: skip

_ROMAN_RE = re.compile(
    r"(?P<ctx>(?<!\w)(?i:" + "|".join(sorted(ROMAN_CONTEXT, key=len, reverse=True)) + r")\s+)"
    r"(?P<roman>[IVXLCDM]+)(?:/(?P<year>\d{4}))?(?![\w/])"
)


def _replace_roman(match: re.Match[str]) -> str:
    value = roman_to_int(match.group("roman"))
    if not value:
        return match.group(0)
    ctx = match.group("ctx")
    words = read_ordinal(value) if ctx.strip().lower().endswith("thứ") else read_int(value)
    if match.group("year"):
        words += f" năm {read_int(int(match.group('year')))}"
    return ctx + words


_ORDINAL_RE = re.compile(r"(?P<ctx>(?<!\w)(?i:thứ)\s+)(?P<n>\d{1,3})(?![\w/]|[.,]\d)")


def _replace_ordinal(match: re.Match[str]) -> str:
    return match.group("ctx") + read_ordinal(int(match.group("n")))


_WEEKDAY = r"T[2-7](?!\w)"
_WEEKDAY_RE = re.compile(rf"(?<![\w.])(?P<first>{_WEEKDAY})(?:\s*[-–]\s*(?P<last>{_WEEKDAY}|CN(?!\w)))?")


def _weekday(token: str) -> str:
    return "chủ nhật" if token == "CN" else "thứ " + read_ordinal(int(token[1]))


def _replace_weekday(match: re.Match[str]) -> str:
    words = _weekday(match.group("first"))
    if match.group("last"):
        words += " đến " + _weekday(match.group("last"))
    return words


RULES: list[Rule] = [
    Rule("roman-numeral", _ROMAN_RE, _replace_roman),
    Rule("ordinal", _ORDINAL_RE, _replace_ordinal),
    Rule("weekday", _WEEKDAY_RE, _replace_weekday),
]
