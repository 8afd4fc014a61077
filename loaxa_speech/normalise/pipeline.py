"""The normalisation pipeline: an ordered list of rules applied to NFC text.

Order is the design. Rules that own a "/", "-" or "." of their own run first (phones, document
numbers, house numbers, dates), then the generic dash-means-range rule, then number+suffix rules
(time, money, %, units), then titles/ordinals, then abbreviations, and finally every number still
written in digits. Each rule leaves text it cannot validate untouched, so unknown input survives.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from . import addresses, datetime_rules, money_units, ordinals, phone
from .abbreviations import (
    COMRADE_RULE,
    DEFAULT_ABBREVIATIONS,
    DOCUMENT_CODES,
    compile_abbreviation_regex,
    validate_abbreviations,
)
from .numbers import LETTER_NAMES, NUMBER_PATTERN, read_number
from .rules import Rule, at_sentence_start, capitalise

_NEGATIVE_RE = re.compile(r"(?:(?<=^)|(?<=[\s(\[:;,]))[-−–](?=\d)", re.MULTILINE)
_NUMBER_RE = re.compile(rf"(?<![\w.,/])(?P<num>{NUMBER_PATTERN})(?P<suf>[A-Z])?(?!\w|/\d)")
_SYMBOLS_RE = re.compile(r"(?<=\s)&(?=\s)")
_SPACES_RE = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"[ \t]+(?=[,.;:!?)])")


def _replace_number(match: re.Match[str]) -> str:
    words = read_number(match.group("num"))
    suffix = match.group("suf")
    return f"{words} {LETTER_NAMES[suffix]}" if suffix else words


def _make_abbreviation_rule(table: Mapping[str, str]) -> Rule:
    def replace(match: re.Match[str]) -> str:
        key = match.group("key")
        following = match.group("next") or ""
        glued = bool(following) and not following[0].isspace()
        if key.endswith("."):
            nxt = following.strip()[:1]
            if not nxt or not (nxt.isupper() or nxt.isdigit()):
                return key
        elif glued and (following[0].isalnum() or following[0] == "_"):
            return key  # part of a longer word we do not know, e.g. "UBNDX"
        expansion = table[key]
        if key[0].isupper() and at_sentence_start(match):
            expansion = capitalise(expansion)
        return expansion + " " if glued and following[0].isalnum() else expansion

    return Rule("abbreviation", compile_abbreviation_regex(list(table)), replace)


class Normaliser:
    """Turns bulletin text into what an announcer would say, ready for any Vietnamese TTS.

    Build one per commune and reuse it: the abbreviation regex is compiled in ``__init__`` and
    ``normalise`` does no other setup. ``extra_abbreviations`` are added to, and override, the
    default table (see :func:`load_abbreviations` to read them from YAML).
    """

    def __init__(self, extra_abbreviations: dict[str, str] | None = None) -> None:
        table = dict(DEFAULT_ABBREVIATIONS)
        if extra_abbreviations:
            table.update(validate_abbreviations(extra_abbreviations))
        self.abbreviations: dict[str, str] = table
        document_codes = {**table, **DOCUMENT_CODES}
        if extra_abbreviations:
            document_codes.update(validate_abbreviations(extra_abbreviations))
        self.rules: list[Rule] = [
            *phone.RULES,
            addresses.make_document_rule(document_codes),
            *addresses.RULES,
            *datetime_rules.DATE_RULES,
            *ordinals.RULES,
            datetime_rules.RANGE_RULE,
            Rule("negative", _NEGATIVE_RE, lambda _m: "âm "),
            *datetime_rules.TIME_RULES,
            ordinals.SUNDAY_RULE,
            COMRADE_RULE,
            *money_units.RULES,
            _make_abbreviation_rule(table),
            Rule("number", _NUMBER_RE, _replace_number),
            Rule("ampersand", _SYMBOLS_RE, lambda _m: "và"),
        ]

    def normalise(self, text: str) -> str:
        """Return ``text`` with numbers, dates, times, money, units, phones and abbreviations spelled out.

        Input is converted to NFC (Vietnamese often arrives decomposed from Word or phones); letters
        and tone marks are otherwise never changed, and anything not recognised is kept verbatim.
        """
        if not text:
            return text
        result = unicodedata.normalize("NFC", text)
        for rule in self.rules:
            result = rule.apply(result)
        result = _SPACES_RE.sub(" ", result)
        return _SPACE_BEFORE_PUNCT_RE.sub("", result)


_DEFAULT: Normaliser | None = None


def normalise(text: str) -> str:
    """Normalise with the default tables. The shared instance is built on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Normaliser()
    return _DEFAULT.normalise(text)
