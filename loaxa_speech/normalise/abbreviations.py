"""Abbreviation tables and the YAML loader communes use to add their own entries.

Bulletins are written by commune officials in administrative shorthand (UBND, HĐND, MTTQ...).
A TTS engine either spells these letter by letter or skips them, so we expand them from a table.
Unknown upper-case words are deliberately left alone: a wrong expansion is worse than a spelled one.

Keys are matched case-sensitively as whole words. A key ending in "." (TP., Q., P.) only matches
when followed by an upper-case letter or digit ("Q. Ba Đình", "P.5"), so a sentence ending in
"...vùng P." is not rewritten.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .rules import Rule, at_sentence_start, capitalise

DEFAULT_ABBREVIATIONS: dict[str, str] = {
    # Government and Party bodies
    "UBND": "ủy ban nhân dân",
    "HĐND": "hội đồng nhân dân",
    "MTTQ": "mặt trận tổ quốc",
    "MTTQVN": "mặt trận tổ quốc Việt Nam",
    "UBMTTQ": "ủy ban mặt trận tổ quốc",
    "UBMTTQVN": "ủy ban mặt trận tổ quốc Việt Nam",
    "UBKT": "ủy ban kiểm tra",
    "BCH": "ban chấp hành",
    "BTV": "ban thường vụ",
    "BCĐ": "ban chỉ đạo",
    "BQL": "ban quản lý",
    "BĐH": "ban điều hành",
    "ĐU": "đảng ủy",
    "ĐBQH": "đại biểu quốc hội",
    "QH": "quốc hội",
    "TW": "trung ương",
    "TƯ": "trung ương",
    "PCT": "phó chủ tịch",
    "CHXHCN": "cộng hòa xã hội chủ nghĩa",
    "XHCN": "xã hội chủ nghĩa",
    "VN": "Việt Nam",
    # Mass organisations
    "HTX": "hợp tác xã",
    "ĐTN": "đoàn thanh niên",
    "TNCS": "thanh niên cộng sản",
    "HCM": "Hồ Chí Minh",
    "TPHCM": "thành phố Hồ Chí Minh",
    "LHPN": "liên hiệp phụ nữ",
    "HLHPN": "hội liên hiệp phụ nữ",
    "HND": "hội nông dân",
    "HCCB": "hội cựu chiến binh",
    "CCB": "cựu chiến binh",
    "NCT": "người cao tuổi",
    "CLB": "câu lạc bộ",
    # Schools, health, social insurance
    "MN": "mầm non",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "HSSV": "học sinh sinh viên",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "BHTN": "bảo hiểm thất nghiệp",
    "TYT": "trạm y tế",
    "TTYT": "trung tâm y tế",
    "BV": "bệnh viện",
    "KHHGĐ": "kế hoạch hóa gia đình",
    "ATTP": "an toàn thực phẩm",
    # Security, traffic, fire
    "CA": "công an",
    "CSGT": "cảnh sát giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "PCCCR": "phòng cháy chữa cháy rừng",
    "PCTT": "phòng chống thiên tai",
    "PCTT&TKCN": "phòng chống thiên tai và tìm kiếm cứu nạn",
    "TKCN": "tìm kiếm cứu nạn",
    "ANTT": "an ninh trật tự",
    "ANQP": "an ninh quốc phòng",
    "QP-AN": "quốc phòng an ninh",
    "DQTV": "dân quân tự vệ",
    "NVQS": "nghĩa vụ quân sự",
    "ATGT": "an toàn giao thông",
    "TNGT": "tai nạn giao thông",
    # Land, economy, documents
    "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân",
    "GCN": "giấy chứng nhận",
    "QSDĐ": "quyền sử dụng đất",
    "GPMB": "giải phóng mặt bằng",
    "NTM": "nông thôn mới",
    "KT-XH": "kinh tế xã hội",
    "KCN": "khu công nghiệp",
    "SXKD": "sản xuất kinh doanh",
    "VSMT": "vệ sinh môi trường",
    "TDTT": "thể dục thể thao",
    "NN&PTNT": "nông nghiệp và phát triển nông thôn",
    "TN&MT": "tài nguyên và môi trường",
    "GD&ĐT": "giáo dục và đào tạo",
    "LĐ-TB&XH": "lao động thương binh và xã hội",
    "LĐTBXH": "lao động thương binh và xã hội",
    "SĐT": "số điện thoại",
    "ĐBSCL": "đồng bằng sông Cửu Long",
    "COVID-19": "cô-vít mười chín",
    "Covid-19": "cô-vít mười chín",
    # Money
    "VNĐ": "đồng",
    "VND": "đồng",
    "USD": "đô la Mỹ",
    # Places (dotted forms only match before a capital or digit)
    "TP.": "thành phố",
    "Tp.": "thành phố",
    "TP": "thành phố",
    "TX.": "thị xã",
    "TT.": "thị trấn",
    "Q.": "quận",
    "P.": "phường",
    "H.": "huyện",
    "X.": "xã",
    "QL": "quốc lộ",
    "TL": "tỉnh lộ",
}

#: Codes that only appear inside document numbers ("số 12/QĐ-UBND", "15/2020/NĐ-CP"). They are too
#: ambiguous to expand anywhere else (CT is also "chủ tịch", TT also "thị trấn", KH also "khách hàng").
DOCUMENT_CODES: dict[str, str] = {
    "QĐ": "quyết định",
    "NĐ": "nghị định",
    "NQ": "nghị quyết",
    "TT": "thông tư",
    "CT": "chỉ thị",
    "KH": "kế hoạch",
    "TB": "thông báo",
    "CV": "công văn",
    "BC": "báo cáo",
    "HD": "hướng dẫn",
    "CP": "chính phủ",
    "TTg": "thủ tướng",
    "BYT": "bộ y tế",
    "BCA": "bộ công an",
    "BTC": "bộ tài chính",
    "BNNPTNT": "bộ nông nghiệp và phát triển nông thôn",
    "TU": "tỉnh ủy",
    "HU": "huyện ủy",
    "ĐU": "đảng ủy",
    "UBND": "ủy ban nhân dân",
    "HĐND": "hội đồng nhân dân",
    "VP": "văn phòng",
}


# "đ/c" is "đồng chí" (comrade) before a name or title, and "địa chỉ" (address) before a colon.
_COMRADE_RE = re.compile(r"(?<![\w/])(?P<d>[đĐ])/[cC](?![\w/])")


def _replace_comrade(match: re.Match[str]) -> str:
    words = "địa chỉ" if match.string[match.end() : match.end() + 2].lstrip().startswith(":") else "đồng chí"
    if match.group("d") == "Đ" and at_sentence_start(match):
        return capitalise(words)
    return words


COMRADE_RULE = Rule("comrade", _COMRADE_RE, _replace_comrade)


class AbbreviationFileError(ValueError):
    """A commune abbreviation file is missing, not YAML, or not a flat text-to-text mapping."""


def _clean_entries(raw: Mapping[Any, object], source: str) -> dict[str, str]:
    """Keys and values are checked here, whatever the mapping claims (YAML gives any types)."""
    entries: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise AbbreviationFileError(f"{source}: abbreviation {key!r} must be a non-empty string")
        if not isinstance(value, str) or not value.strip():
            raise AbbreviationFileError(f"{source}: expansion of {key!r} must be a non-empty string, got {value!r}")
        entries[unicodedata.normalize("NFC", key.strip())] = unicodedata.normalize("NFC", value.strip())
    return entries


def validate_abbreviations(entries: Mapping[str, str], source: str = "extra_abbreviations") -> dict[str, str]:
    """NFC-normalise and check a mapping passed in code, with the same rules as the YAML loader."""
    if not isinstance(entries, Mapping):
        raise AbbreviationFileError(f"{source}: expected a mapping of abbreviation to expansion")
    return _clean_entries(entries, source)


def load_abbreviations(path: str | Path) -> dict[str, str]:
    """Read a commune's extra abbreviations from a YAML mapping, e.g. ``HTXDVNN: hợp tác xã dịch vụ nông nghiệp``.

    Raises :class:`AbbreviationFileError` (a ValueError) naming the file and the problem, because the
    person editing this file is a commune clerk, not a programmer.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AbbreviationFileError(f"{source}: cannot read abbreviation file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise AbbreviationFileError(f"{source}: abbreviation file must be UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AbbreviationFileError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AbbreviationFileError(
            f"{source}: expected a mapping like 'UBND: ủy ban nhân dân', got {type(data).__name__}"
        )
    return _clean_entries(data, source)


def compile_abbreviation_regex(keys: list[str]) -> re.Pattern[str]:
    """One alternation over all keys, longest first so "PCCCR" wins over "PCCC" and "TP." over "TP".

    The lookahead captures the next non-space character so the replacer can apply the dotted-key rule.
    """
    ordered = sorted(keys, key=len, reverse=True)
    alternation = "|".join(re.escape(k) for k in ordered)
    return re.compile(rf"(?<![\w&])(?P<key>{alternation})(?=(?P<next>\s*\S)?)")
