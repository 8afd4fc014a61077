"""Ordinals ("thứ 2", "lần thứ 3"), weekdays ("T2-T6") and Roman numerals in titles ("Quý IV").

Roman numerals are only read after a title word. Out of context "MIX", "CD" or "VI" are ordinary
upper-case words or abbreviations, and reading them as numbers would be a silent error.
"""

from __future__ import annotations

import re

from .numbers import read_int, read_ordinal, roman_to_int
from .rules import Rule, at_sentence_start, following_text, preceding_word

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


#: "CN" on its own is also "công nhân" (worker) or a person's initials; it is "chủ nhật" only where a
#: day is expected: after a time ("8 giờ CN"), a part of the day ("sáng CN"), "ngày"/"hôm", after
#: another weekday ("thứ bảy, CN", "từ thứ hai đến CN"), or before a date ("CN ngày 30/11").
_SUNDAY_RE = re.compile(r"(?<![\w.&/])CN(?![\w&/])")
_DAY_BEFORE = frozenset({"giờ", "phút", "sáng", "trưa", "chiều", "tối", "đêm", "ngày", "hôm", "mỗi"})
_AFTER_WEEKDAY_RE = re.compile(r"(?i:thứ)\s+\w+(?:\s+\w+)?\s*(?:,|và|hoặc|đến|tới|-|–)\s*$")


def _replace_sunday(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 40) : match.start()]
    after = following_text(match, 8).lstrip(", ").lower()
    day_expected = (preceding_word(match).rstrip(",") in _DAY_BEFORE or _AFTER_WEEKDAY_RE.search(before)
                    or after.startswith("ngày"))
    if not day_expected:
        return match.group(0)
    return "Chủ nhật" if at_sentence_start(match) else "chủ nhật"


#: Applied after times and dates are spelled out, so "8h CN" reads "tám giờ" before "CN" is judged.
SUNDAY_RULE = Rule("sunday", _SUNDAY_RE, _replace_sunday)

RULES: list[Rule] = [
    Rule("roman-numeral", _ROMAN_RE, _replace_roman),
    Rule("ordinal", _ORDINAL_RE, _replace_ordinal),
    Rule("weekday", _WEEKDAY_RE, _replace_weekday),
]
