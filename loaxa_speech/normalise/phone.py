"""Telephone numbers, read digit by digit in the groups they were written in.

Read as an amount, "0912 345 678" becomes "chín trăm mười hai, ba trăm..." and listeners cannot
dial it. Announcers say each digit and pause between groups; the comma gives the TTS that pause.
"""

from __future__ import annotations

import re

from .numbers import read_digits
from .rules import Rule, at_sentence_start

# Mobile 09x/08x/07x/05x/03x (10 digits), landline 02xx (11 digits), +84 forms, "(024) 3825 1234".
_PHONE_RE = re.compile(
    r"(?<![\w.,+/])(?P<phone>(?:\+84[ .-]?|\(0\d{2,3}\)\s?|0)\d{1,4}(?:[ .-]?\d{2,4}){1,3})(?![\w/]|[.,-]\d)"
)

# After a context word any digit string is a number to dial: hotlines (1900 1234), 113/114/115.
_CONTEXT_RE = re.compile(
    r"(?P<ctx>(?<!\w)(?i:điện thoại|đt|sđt|hotline|đường dây nóng|tổng đài|số máy|fax|zalo|gọi|gọi ngay)"
    r"(?!\w)(?:\s*(?i:số))?\s*[:.]?\s*)"
    r"(?P<num>\+?\(?\d+\)?(?:[ .-]?\d{2,})*)(?![\w/]|[.,]\d)"
)

_EMERGENCY = frozenset({"111", "112", "113", "114", "115"})


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def read_phone(raw: str) -> str:
    """Read a phone number in its written groups; unseparated ones are grouped 4-3-3 (or 4-3-4)."""
    text = raw.strip()
    prefix = ""
    if text.startswith("+"):
        prefix = "cộng "
        text = text[1:]
    groups = [g for g in re.split(r"[\s.\-()]+", text) if g]
    if len(groups) == 1:
        digits = groups[0]
        if prefix and digits.startswith("84"):
            groups = ["84", digits[2:5], digits[5:8], digits[8:]]
        elif len(digits) in (10, 11):
            groups = [digits[:4], digits[4:7], digits[7:]]
        elif len(digits) == 8:
            groups = [digits[:4], digits[4:]]
    elif prefix and groups[0].startswith("84") and len(groups[0]) > 2:
        groups = ["84", groups[0][2:], *groups[1:]]
    return prefix + ", ".join(read_digits(g) for g in groups if g)


def _replace_generic(match: re.Match[str]) -> str:
    raw = match.group("phone")
    count = _digit_count(raw)
    valid = count in (11, 12) if raw.startswith("+84") else count in (10, 11)
    return read_phone(raw) if valid else match.group(0)


def _replace_context(match: re.Match[str]) -> str:
    num = match.group("num")
    count = _digit_count(num)
    digits = re.sub(r"\D", "", num)
    dialable = count >= 7 or digits in _EMERGENCY or (count >= 4 and digits[:4] in ("1800", "1900"))
    if not dialable:
        return match.group(0)
    ctx = match.group("ctx")
    # "ĐT" is also "đường tỉnh" (ĐT.741); only here, before a dialable number, is it a telephone.
    spoken = "Điện thoại" if at_sentence_start(match) else "điện thoại"
    ctx = re.sub(r"^(?:ĐT|Đt|đt)(?!\w)", spoken, ctx)
    return f"{ctx}{read_phone(num)}"


RULES: list[Rule] = [
    Rule("phone-context", _CONTEXT_RE, _replace_context),
    Rule("phone", _PHONE_RE, _replace_generic),
]
