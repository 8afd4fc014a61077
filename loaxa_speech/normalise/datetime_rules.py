"""Dates, months, times of day and dash ranges between them.

Dates are read the formal broadcast way: "ngày hai mươi lăm tháng mười một năm hai nghìn không trăm
hai mươi sáu". "ngày" / "tháng" is added only when the text does not already say it, so
"ngày 5/9" does not become "ngày ngày năm tháng chín". Invalid values (32/13) are left as written.
"""

from __future__ import annotations

import re

from .numbers import read_int
from .rules import Rule, following_text, preceding_word

_DAY_WORDS = frozenset({"ngày", "mùng", "mồng"})


def read_month(month: int) -> str:
    """Months use "tư" for April ("tháng tư"); every other month is the cardinal."""
    return "tư" if month == 4 else read_int(month)


def _valid(day: int | None, month: int | None) -> bool:
    return (day is None or 1 <= day <= 31) and (month is None or 1 <= month <= 12)


def read_date(day: int, month: int, year: int | None, with_day_word: bool) -> str:
    words = ["ngày"] if with_day_word else []
    words += [read_int(day), "tháng", read_month(month)]
    if year is not None:
        words += ["năm", read_int(year)]
    return " ".join(words)


def _needs_day_word(match: re.Match[str]) -> bool:
    return preceding_word(match) not in _DAY_WORDS


_ISO_RE = re.compile(r"(?<![\w/.,-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\w/]|[-.,]\d)")


def _replace_iso(match: re.Match[str]) -> str:
    day, month, year = int(match.group("d")), int(match.group("m")), int(match.group("y"))
    if not _valid(day, month):
        return match.group(0)
    return read_date(day, month, year, _needs_day_word(match))


# "20-25/11" and "20-25/11/2026": one month, a span of days.
_DAY_RANGE_RE = re.compile(
    r"(?<![\w/.,-])(?P<d1>\d{1,2})\s*[-–]\s*(?P<d2>\d{1,2})/(?P<m>\d{1,2})(?:/(?P<y>\d{4}))?(?![\w/]|[.,-]\d)"
)


def _replace_day_range(match: re.Match[str]) -> str:
    d1, d2, month = int(match.group("d1")), int(match.group("d2")), int(match.group("m"))
    if not (_valid(d1, month) and _valid(d2, month)):
        return match.group(0)
    year = int(match.group("y")) if match.group("y") else None
    prefix = "ngày " if _needs_day_word(match) else ""
    return f"{prefix}{read_int(d1)} đến {read_date(d2, month, year, False)}"


# dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy with the same separator twice.
_FULL_DATE_RE = re.compile(
    r"(?<![\w/.,-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\w/]|[-.,]\d)"
)
_DAY_MONTH_RE = re.compile(r"(?<![\w/.,-])(?P<d>\d{1,2})/(?P<m>\d{1,2})(?![\w/]|[.,]\d)")
_MONTH_YEAR_RE = re.compile(r"(?<![\w/.,-])(?P<m>\d{1,2})/(?P<y>\d{4})(?![\w/]|[.,]\d)")


#: Words that make "1/2" a fraction ("một phần hai") instead of the 1st of February.
FRACTION_CUES = frozenset({"lệ", "chiếm", "khoảng", "gần", "hơn", "còn", "được", "đạt", "trên", "dưới", "bằng",
                           "thành", "hết", "mất", "có"})
#: ... and so do the amounts they usually divide: "3/4 kế hoạch", "1/2 thời gian".
_FRACTION_FOLLOWERS = ("số ", "diện tích", "dân số", "tổng", "kế hoạch", "thời gian", "chỉ tiêu", "khối lượng",
                       "quãng", "đoạn", "giá trị", "sản lượng", "lượng", "phần")


def _is_fraction(match: re.Match[str]) -> bool:
    """A cue word before, a quantity after, or numbers that cannot be a date ("5/40") make a fraction.

    After "ngày"/"mùng" an impossible date ("ngày 32/13") is a typo, left as written, not a fraction.
    """
    before = preceding_word(match)
    if before in FRACTION_CUES:
        return True
    if following_text(match, 12).lower().startswith(_FRACTION_FOLLOWERS):
        return True
    day, month = int(match.group("d")), int(match.group("m"))
    return not _valid(day, month) and before not in _DAY_WORDS and 0 < day <= month


def _replace_date(match: re.Match[str]) -> str:
    day, month = int(match.group("d")), int(match.group("m"))
    has_year = "y" in match.groupdict()
    if not has_year and month and _is_fraction(match):
        return f"{read_int(day)} phần {read_int(month)}"
    if not _valid(day, month):
        return match.group(0)
    year = int(match.group("y")) if has_year else None
    return read_date(day, month, year, _needs_day_word(match))


def _replace_month_year(match: re.Match[str]) -> str:
    month, year = int(match.group("m")), int(match.group("y"))
    if not _valid(None, month):
        return match.group(0)
    prefix = "" if preceding_word(match) == "tháng" else "tháng "
    return f"{prefix}{read_month(month)} năm {read_int(year)}"


_MONTH_WORD_RE = re.compile(r"(?<!\w)(?P<word>(?i:tháng))\s+(?P<m>\d{1,2})(?![\w/]|[.,]\d)")


def _replace_month_word(match: re.Match[str]) -> str:
    month = int(match.group("m"))
    if not _valid(None, month):
        return match.group(0)
    return f"{match.group('word')} {read_month(month)}"


# A dash between two numbers (or a time like 7h and a number) is a range: "5-7 ngày", "7h-11h".
# Runs after every rule that owns a dash of its own (dates, phones, document numbers).
_RANGE_DASH_RE = re.compile(r"(?:(?<=\d)|(?<=\d[hg'%]))\s*[-–—]\s*(?=\d)")

# 7h, 7h30, 7h30', 07:30, 14:30:15, 7g30 (Southern). "g" needs minutes: "500g" is grams.
_TIME_RE = re.compile(
    r"(?<![\w:.,/])(?P<h>\d{1,2})"
    r"(?:h(?P<m1>\d{2})?(?:'|ph(?!\w)|p(?!\w))?|g(?P<m2>\d{2})|:(?P<m3>\d{2})(?::(?P<s>\d{2}))?)"
    r"(?![\w:]|[.,]\d)"
)


def _replace_time(match: re.Match[str]) -> str:
    hour = int(match.group("h"))
    minute_text = match.group("m1") or match.group("m2") or match.group("m3")
    minute = int(minute_text) if minute_text else 0
    second = int(match.group("s")) if match.group("s") else 0
    if hour > 24 or minute > 59 or second > 59:
        return match.group(0)
    words = [read_int(hour), "giờ"]
    if minute or second:
        words.append(read_int(minute))
        if second or not following_text(match).startswith("phút"):
            words.append("phút")
    if second:
        words += [read_int(second), "giây"]
    return " ".join(words)


DATE_RULES: list[Rule] = [
    Rule("iso-date", _ISO_RE, _replace_iso),
    Rule("day-range", _DAY_RANGE_RE, _replace_day_range),
    Rule("full-date", _FULL_DATE_RE, _replace_date),
    Rule("month-year", _MONTH_YEAR_RE, _replace_month_year),
    Rule("day-month", _DAY_MONTH_RE, _replace_date),
    Rule("month-word", _MONTH_WORD_RE, _replace_month_word),
]

RANGE_RULE = Rule("range-dash", _RANGE_DASH_RE, lambda _m: " đến ")

TIME_RULES: list[Rule] = [Rule("time", _TIME_RE, _replace_time)]
