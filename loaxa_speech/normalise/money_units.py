"""Money, percentages and measurement units.

Units are expanded only right after a number ("5 km", "30°C"), never on their own, because a bare
"m" or "g" in prose is not a unit. "/" inside a unit is read: "km/h" → "ki-lô-mét trên giờ"
(unit over unit), "đ/kg" and "kg/người" → "... một ki-lô-gam", "... một người" (price or amount per item).
"""

from __future__ import annotations

import re

from .numbers import NUMBER_PATTERN, read_number
from .rules import Rule

UNITS: dict[str, str] = {
    "km²": "ki-lô-mét vuông",
    "km2": "ki-lô-mét vuông",
    "km": "ki-lô-mét",
    "m²": "mét vuông",
    "m2": "mét vuông",
    "m³": "mét khối",
    "m3": "mét khối",
    "cm": "xen-ti-mét",
    "mm": "mi-li-mét",
    "m": "mét",
    "ha": "héc-ta",
    "kg": "ki-lô-gam",
    "mg": "mi-li-gam",
    "g": "gam",
    "ml": "mi-li-lít",
    "l": "lít",
    "°C": "độ xê",
    "ºC": "độ xê",
    "oC": "độ xê",
    "°": "độ",
    "kWh": "ki-lô-oát giờ",
    "kW": "ki-lô-oát",
    "MW": "mê-ga-oát",
    "W": "oát",
    "kV": "ki-lô-vôn",
    "V": "vôn",
    "ph": "phút",
    "'": "phút",
    "s": "giây",
    "h": "giờ",
    "tấn": "tấn",
    "tạ": "tạ",
    "yến": "yến",
    "lít": "lít",
    "mét": "mét",
}

#: Denominators read with "trên" (rates over time: km/h, m3/s); every other "/" is "một" (30.000đ/kg).
_TIME_DENOMINATORS = frozenset({"h", "s", "giờ", "giây", "phút", "ph"})

#: Single-character units are only accepted glued to the number ("5l", "30s"), not "5 l".
_GLUED_ONLY = frozenset({"l", "s", "'", "°", "h", "g"})

_CURRENCIES: dict[str, str] = {
    "nghìn đồng": "nghìn đồng",
    "đồng": "đồng",
    "VNĐ": "đồng",
    "VND": "đồng",
    "vnđ": "đồng",
    "vnd": "đồng",
    "đ": "đồng",
    "₫": "đồng",
    "k": "nghìn đồng",
    "USD": "đô la Mỹ",
}


def _alternation(keys: list[str]) -> str:
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


_UNIT_ALT = _alternation(list(UNITS))
_NUM = rf"(?<![\w.,/])(?P<num>{NUMBER_PATTERN})"

#: One or more "/denominator" parts: "đ/kg", "đồng/hộ/tháng" (a rate per household per month).
_DENOMINATORS = rf"(?P<den>(?:/(?:{_UNIT_ALT}|[^\W\d_]+)(?!\w))+)"
_MONEY_RE = re.compile(
    rf"{_NUM}(?P<space>\s?)(?P<cur>{_alternation(list(_CURRENCIES))})(?!\w){_DENOMINATORS}?"
)
_PERCENT_RE = re.compile(rf"{_NUM}\s?%")
_UNIT_RE = re.compile(rf"{_NUM}(?P<space>\s?)(?P<unit>{_UNIT_ALT})(?!\w){_DENOMINATORS}?")
_DEGREE_C_RE = re.compile(r"(?<=độ) C(?!\w)")
# "2,34 triệu đồng/tháng": the amount is already words, only the "/" parts are left to read.
_PER_DONG_RE = re.compile(r"(?<=\bđồng)(?P<den>(?:/[^\W\d_]+(?!\w))+)")


def _per(den: str | None) -> str:
    """'/hộ/tháng' → ' một hộ một tháng'; a time under a unit is 'trên' ('km/h' → 'trên giờ')."""
    if not den:
        return ""
    words = []
    for part in den.split("/")[1:]:
        connector = "trên" if part in _TIME_DENOMINATORS else "một"
        words.append(f"{connector} {UNITS.get(part, part)}")
    return " " + " ".join(words)


def _replace_money(match: re.Match[str]) -> str:
    cur = match.group("cur")
    if cur == "k" and match.group("space"):
        return match.group(0)  # "5 k" is not slang for 5 000 đồng
    amount = read_number(match.group("num"), thousands_comma=True)
    return f"{amount} {_CURRENCIES[cur]}{_per(match.group('den'))}"


def _replace_percent(match: re.Match[str]) -> str:
    return f"{read_number(match.group('num'))} phần trăm"


def _replace_unit(match: re.Match[str]) -> str:
    unit = match.group("unit")
    if unit in _GLUED_ONLY and match.group("space"):
        return match.group(0)
    return f"{read_number(match.group('num'))} {UNITS[unit]}{_per(match.group('den'))}"


RULES: list[Rule] = [
    Rule("money", _MONEY_RE, _replace_money),
    Rule("percent", _PERCENT_RE, _replace_percent),
    Rule("unit", _UNIT_RE, _replace_unit),
    Rule("degree-c", _DEGREE_C_RE, lambda _m: " xê"),
    Rule("per-dong", _PER_DONG_RE, lambda m: _per(m.group("den")).replace(" trên ", " một ")),
]
