"""House numbers, road codes and official document numbers.

All three use "/" or glued letters that the date and number rules would misread: "số 12/3" is a
house, not the 12th of March; "QL1A" is a road; "15/2020/NĐ-CP" is a decree. They run before dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .numbers import LETTER_NAMES, read_int, read_integer_string
from .rules import Rule

_ADDRESS_RE = re.compile(
    r"(?P<ctx>(?<!\w)(?i:số nhà|số|nhà|ngõ|ngách|hẻm|kiệt|lô|căn hộ|căn)\s+)"
    r"(?P<addr>\d+[A-Z]?(?:/\d+[A-Z]?)+)(?![\w/])"
)

_ROADS: dict[str, str] = {
    "QL": "quốc lộ",
    "ĐT": "đường tỉnh",
    "TL": "tỉnh lộ",
    "ĐH": "đường huyện",
    "HL": "hương lộ",
    "ĐX": "đường xã",
}
_ROAD_RE = re.compile(r"(?<![\w.])(?P<code>QL|ĐT|TL|ĐH|HL|ĐX)[.\s]?(?P<num>\d+)(?P<suf>[A-Z])?(?!\w)")

_DOC_RE = re.compile(
    r"(?<![\w/.,])(?P<num>\d+)(?:/(?P<year>\d{4}))?"
    r"/(?P<codes>[A-ZĐ][A-Za-zĐđ&]+(?:[-–][A-ZĐ][A-Za-zĐđ&]*)*)(?![\w/])"
)


def read_house_part(part: str) -> str:
    """Read one house-number part: 12A → "mười hai a" (the letter by its Vietnamese name)."""
    if part[-1].isalpha():
        return f"{read_integer_string(part[:-1])} {LETTER_NAMES.get(part[-1], part[-1])}"
    return read_integer_string(part)


def _replace_address(match: re.Match[str]) -> str:
    parts = match.group("addr").split("/")
    return match.group("ctx") + " trên ".join(read_house_part(p) for p in parts)


def _replace_road(match: re.Match[str]) -> str:
    words = f"{_ROADS[match.group('code')]} {read_integer_string(match.group('num'))}"
    if match.group("suf"):
        words += " " + LETTER_NAMES[match.group("suf")]
    return words


def make_document_rule(codes: Mapping[str, str]) -> Rule:
    """Document numbers: "123/QĐ-UBND" → "một trăm hai mươi ba quyết định ủy ban nhân dân".

    ``codes`` is the document-code table merged with the abbreviation table, so a commune's own
    abbreviations also expand inside document numbers. Unknown codes are kept as written.
    """

    def replace(match: re.Match[str]) -> str:
        words = [read_integer_string(match.group("num"))]
        if match.group("year"):
            words += ["năm", read_int(int(match.group("year")))]
        words += [codes.get(code, code) for code in re.split(r"[-–]", match.group("codes")) if code]
        return " ".join(words)

    return Rule("document-number", _DOC_RE, replace)


RULES: list[Rule] = [
    Rule("house-number", _ADDRESS_RE, _replace_address),
    Rule("road-code", _ROAD_RE, _replace_road),
]
