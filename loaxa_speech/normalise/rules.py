"""Shared types for normalisation rules.

A rule is a precompiled regex plus a replacer. Replacers return the original ``match.group(0)``
whenever a check fails (month 13, hour 25, too few phone digits), which is how the normaliser keeps
its promise of never dropping text it does not understand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Replacer = Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rewrite step. ``name`` is only for debugging and the docs."""

    name: str
    pattern: re.Pattern[str]
    replace: Replacer

    def apply(self, text: str) -> str:
        return self.pattern.sub(self.replace, text)


def preceding_word(match: re.Match[str], window: int = 16) -> str:
    """The lower-cased word just before a match, to avoid saying "ngày ngày" or "tháng tháng"."""
    before = match.string[max(0, match.start() - window) : match.start()].rstrip()
    parts = before.split()
    return parts[-1].lower().lstrip("(\"“'[") if parts else ""


def following_text(match: re.Match[str], window: int = 12) -> str:
    """The text right after a match, stripped, for "7h30 phút" style checks."""
    return match.string[match.end() : match.end() + window].lstrip()


_SENTENCE_END = frozenset(".!?:\n")


def at_sentence_start(match: re.Match[str]) -> bool:
    """True when a match opens the text, a line or a sentence, so an expansion should be capitalised."""
    before = match.string[: match.start()].rstrip(" \t\"“'(")
    return not before or before[-1] in _SENTENCE_END


def capitalise(text: str) -> str:
    """Upper-case the first letter only; ``str.capitalize`` would lower-case "Việt Nam"."""
    return text[:1].upper() + text[1:]
