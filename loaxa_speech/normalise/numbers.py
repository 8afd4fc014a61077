"""Vietnamese number reading: cardinals, decimals, digit strings, ordinals, Roman numerals.

Everything here is a pure function of a digit string so that every other rule (dates, money,
phones, units) reads numbers the same way; the irregular forms of spoken Vietnamese
(mười / mươi, mốt, tư, lăm, linh) live in exactly one place: :func:`_read_triple`.
"""

from __future__ import annotations

import re

DIGITS: tuple[str, ...] = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

#: Word used for a zero tens digit before a non-zero unit (105 → một trăm linh năm).
#: Northern broadcast style is "linh"; the South says "lẻ". We follow VOV / VTV usage.
ZERO_TENS = "linh"
#: Word for 10^3. "nghìn" is the standard broadcast form ("ngàn" is Southern colloquial).
THOUSAND = "nghìn"

# Scales within one "tỷ" block; beyond 10^9 the reading recurses ("một nghìn tỷ").
_SCALES: tuple[str, ...] = ("", THOUSAND, "triệu")

#: Numbers longer than this (without separators) are codes or account numbers, not amounts.
MAX_CARDINAL_DIGITS = 12

#: A number as written in Vietnamese text. Order matters: thousands groups are tried first so
#: "1.500" is one thousand five hundred (Vietnamese convention), while "2.5" and "1,5" are decimals.
#: English-style "1,000,000" needs at least two comma groups, otherwise "1,500" is a decimal.
NUMBER_PATTERN = (
    r"(?:\d{1,3}(?:\.\d{3})+(?:,\d+)?(?![\d.]\d)"
    r"|\d{1,3}(?:,\d{3}){2,}(?:\.\d+)?(?![\d,]\d)"
    r"|\d+[.,]\d+"
    r"|\d+)"
)
NUMBER_RE = re.compile(NUMBER_PATTERN)

_ROMAN_RE = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}

#: Vietnamese names of Latin letters, for house-number suffixes (12A, QL1A) and spelled codes.
LETTER_NAMES: dict[str, str] = {
    "A": "a", "B": "bê", "C": "xê", "D": "đê", "Đ": "đê", "E": "e", "F": "ép", "G": "giê", "H": "hát",
    "I": "i", "J": "gi", "K": "ca", "L": "e-lờ", "M": "em-mờ", "N": "en-nờ", "O": "o", "P": "pê",
    "Q": "quy", "R": "e-rờ", "S": "ét", "T": "tê", "U": "u", "V": "vê", "W": "vê kép", "X": "ích",
    "Y": "i dài", "Z": "dét",
}  # fmt: skip


def _read_triple(n: int, full: bool) -> list[str]:
    """Read 0..999. ``full`` means a higher group precedes, so "không trăm" / "linh" must be said.

    This is where the Vietnamese irregularities live:
    tens 1 → "mười", tens ≥2 → "X mươi"; unit 1 → "mốt" after mươi; unit 4 → "tư" after mươi;
    unit 5 → "lăm" after mười/mươi; zero tens before a unit → "linh" once hundreds were spoken.
    """
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    said_hundreds = full or hundreds > 0
    if said_hundreds:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if said_hundreds:
                words.append(ZERO_TENS)
            words.append(DIGITS[units])
        return words
    if tens == 1:
        words.append("mười")
    else:
        words += [DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt" if tens >= 2 else "một")
    elif units == 4:
        words.append("tư" if tens >= 2 else "bốn")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(DIGITS[units])
    return words


def _read_below_billion(n: int, full: bool) -> list[str]:
    """Read 0 < n < 10^9 as up to three groups; all-zero groups are skipped (1.000.000 → một triệu)."""
    groups = [(n // 1_000_000) % 1000, (n // 1000) % 1000, n % 1000]
    words: list[str] = []
    for index, group in enumerate(groups):
        if group == 0:
            continue
        scale = _SCALES[2 - index]
        words += _read_triple(group, full or bool(words))
        if scale:
            words.append(scale)
    return words


def _read_int_words(n: int, full: bool = False) -> list[str]:
    if n >= 1_000_000_000:
        high, low = divmod(n, 1_000_000_000)
        words = [*_read_int_words(high, full), "tỷ"]
        if low:
            words += _read_below_billion(low, True)
        return words
    return _read_below_billion(n, full)


def read_int(n: int) -> str:
    """Read a non-negative integer: 21 → "hai mươi mốt", 2025 → "hai nghìn không trăm hai mươi lăm"."""
    if n < 0:
        return "âm " + read_int(-n)
    if n == 0:
        return DIGITS[0]
    return " ".join(_read_int_words(n))


def read_digits(digits: str) -> str:
    """Read a string digit by digit ("0912" → "không chín một hai"); non-digits are skipped."""
    return " ".join(DIGITS[int(ch)] for ch in digits if ch.isdigit())


def read_integer_string(digits: str) -> str:
    """Read an integer as written: leading-zero codes and very long runs are read digit by digit.

    "05" is still "năm" (tổ 05, ngày 05), but "007" or a 13-digit account number is a code.
    """
    if len(digits) > MAX_CARDINAL_DIGITS or (len(digits) > 2 and digits[0] == "0"):
        return read_digits(digits)
    return read_int(int(digits))


def _read_fraction(digits: str) -> str:
    """Read the part after "phẩy" the way announcers do: 1,5 → năm; 3,25 → hai mươi lăm; 0,05 → không năm."""
    if digits.startswith("0") or len(digits) > 3:
        return read_digits(digits)
    return read_int(int(digits))


def read_number(text: str, thousands_comma: bool = False) -> str:
    """Read a number token matched by :data:`NUMBER_RE`.

    ``thousands_comma`` is set by money rules: "50,000đ" is fifty thousand, never fifty point zero.
    """
    if "." in text and "," in text:
        # Whichever comes last is the decimal mark: 1.234,5 (Vietnamese) or 1,234.5 (English).
        if text.rfind(",") > text.rfind("."):
            integer, fraction = text.replace(".", "").split(",")
        else:
            integer, fraction = text.replace(",", "").split(".")
        return f"{read_int(int(integer))} phẩy {_read_fraction(fraction)}"
    for sep in ".,":
        if sep not in text:
            continue
        parts = text.split(sep)
        groups_of_three = all(len(p) == 3 for p in parts[1:]) and 1 <= len(parts[0]) <= 3
        is_thousands = groups_of_three and (sep == "." or len(parts) > 2 or thousands_comma)
        if is_thousands:
            return read_int(int("".join(parts)))
        if len(parts) == 2:
            return f"{read_integer_string(parts[0])} phẩy {_read_fraction(parts[1])}"
        return read_digits(text)
    return read_integer_string(text)


def number_value(text: str) -> float | None:
    """Numeric value of a number token, for range checks in date and time rules."""
    try:
        return float(text.replace(".", "").replace(",", "."))
    except ValueError:
        return None


def read_ordinal(n: int) -> str:
    """Ordinal after "thứ": 1 → "nhất", 4 → "tư" (thứ tư), otherwise the cardinal (thứ hai mươi mốt)."""
    if n == 1:
        return "nhất"
    if n == 4:
        return "tư"
    return read_int(n)


def roman_to_int(roman: str) -> int | None:
    """Value of a well-formed upper-case Roman numeral, or None (so "MIX" in prose is not touched)."""
    if not roman or not _ROMAN_RE.fullmatch(roman):
        return None
    total = 0
    for index, ch in enumerate(roman):
        value = _ROMAN_VALUES[ch]
        if index + 1 < len(roman) and _ROMAN_VALUES[roman[index + 1]] > value:
            total -= value
        else:
            total += value
    return total
