"""Table-driven tests for Vietnamese number reading (loaxa_speech.normalise.numbers)."""

from __future__ import annotations

import pytest

from loaxa_speech.normalise import normalise
from loaxa_speech.normalise.numbers import read_digits, read_int, read_number, read_ordinal, roman_to_int

CARDINALS: list[tuple[int, str]] = [
    (0, "không"),
    (1, "một"),
    (4, "bốn"),
    (5, "năm"),
    (10, "mười"),
    (11, "mười một"),
    (14, "mười bốn"),
    (15, "mười lăm"),
    (20, "hai mươi"),
    (21, "hai mươi mốt"),
    (24, "hai mươi tư"),
    (25, "hai mươi lăm"),
    (31, "ba mươi mốt"),
    (44, "bốn mươi tư"),
    (55, "năm mươi lăm"),
    (99, "chín mươi chín"),
    (100, "một trăm"),
    (101, "một trăm linh một"),
    (104, "một trăm linh bốn"),
    (105, "một trăm linh năm"),
    (110, "một trăm mười"),
    (115, "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt"),
    (1000, "một nghìn"),
    (1001, "một nghìn không trăm linh một"),
    (1010, "một nghìn không trăm mười"),
    (1500, "một nghìn năm trăm"),
    (2025, "hai nghìn không trăm hai mươi lăm"),
    (2026, "hai nghìn không trăm hai mươi sáu"),
    (10_000, "mười nghìn"),
    (15_000, "mười lăm nghìn"),
    (21_000, "hai mươi mốt nghìn"),
    (105_000, "một trăm linh năm nghìn"),
    (1_000_000, "một triệu"),
    (1_000_005, "một triệu không trăm linh năm"),
    (1_250_000, "một triệu hai trăm năm mươi nghìn"),
    (1_000_000_000, "một tỷ"),
    (2_500_000_000, "hai tỷ năm trăm triệu"),
    (1_000_000_000_000, "một nghìn tỷ"),
]


@pytest.mark.parametrize(("value", "expected"), CARDINALS)
def test_read_int(value: int, expected: str) -> None:
    assert read_int(value) == expected


NUMBER_TOKENS: list[tuple[str, str]] = [
    ("1.000.000", "một triệu"),
    ("50.000", "năm mươi nghìn"),
    ("1.500", "một nghìn năm trăm"),
    ("1,000,000", "một triệu"),
    ("1,5", "một phẩy năm"),
    ("2.5", "hai phẩy năm"),
    ("3,25", "ba phẩy hai mươi lăm"),
    ("0,05", "không phẩy không năm"),
    ("1.234,5", "một nghìn hai trăm ba mươi tư phẩy năm"),
    ("05", "năm"),
    ("007", "không không bảy"),
]


@pytest.mark.parametrize(("token", "expected"), NUMBER_TOKENS)
def test_read_number_token(token: str, expected: str) -> None:
    assert read_number(token) == expected


def test_money_context_reads_comma_group_as_thousands() -> None:
    assert read_number("50,000", thousands_comma=True) == "năm mươi nghìn"


@pytest.mark.parametrize(
    ("value", "expected"), [(1, "nhất"), (2, "hai"), (4, "tư"), (7, "bảy"), (14, "mười bốn"), (21, "hai mươi mốt")]
)
def test_read_ordinal(value: int, expected: str) -> None:
    assert read_ordinal(value) == expected


@pytest.mark.parametrize(
    ("roman", "expected"),
    [("I", 1), ("IV", 4), ("IX", 9), ("XIII", 13), ("XIV", 14), ("XXI", 21), ("XL", 40), ("IIII", None), ("", None)],
)
def test_roman_to_int(roman: str, expected: int | None) -> None:
    assert roman_to_int(roman) == expected


def test_read_digits() -> None:
    assert read_digits("0912") == "không chín một hai"


IN_TEXT: list[tuple[str, str]] = [
    ("Xã có 21 thôn", "Xã có hai mươi mốt thôn"),
    ("105 hộ nghèo", "một trăm linh năm hộ nghèo"),
    ("1.000.000 cây giống", "một triệu cây giống"),
    ("24 hộ gia đình", "hai mươi tư hộ gia đình"),
    ("15 em học sinh", "mười lăm em học sinh"),
    ("năm 2025", "năm hai nghìn không trăm hai mươi lăm"),
    ("Tổng cộng 1.250 suất quà", "Tổng cộng một nghìn hai trăm năm mươi suất quà"),
    ("đạt 3,5 tấn mỗi ha", "đạt ba phẩy năm tấn mỗi ha"),
    ("thu 12.345.678 đồng", "thu mười hai triệu ba trăm bốn mươi lăm nghìn sáu trăm bảy mươi tám đồng"),
    ("Nhiệt độ thấp nhất -3 độ", "Nhiệt độ thấp nhất âm ba độ"),
    ("mức -1,5 mét", "mức âm một phẩy năm mét"),
    ("(-2)", "(âm hai)"),
    ("-10 độ", "âm mười độ"),
    ("nghỉ 5-7 ngày", "nghỉ năm đến bảy ngày"),
    ("từ 10 - 15 người", "từ mười đến mười lăm người"),
    ("giai đoạn 2021-2025", "giai đoạn hai nghìn không trăm hai mươi mốt đến hai nghìn không trăm hai mươi lăm"),
    ("trẻ từ 0-5 tuổi", "trẻ từ không đến năm tuổi"),
    ("1–2 tháng", "một đến hai tháng"),
    ("thứ 2 tuần sau", "thứ hai tuần sau"),
    ("Thứ 4", "Thứ tư"),
    ("lần thứ 3", "lần thứ ba"),
    ("người thứ 1", "người thứ nhất"),
    ("kỳ họp thứ 10", "kỳ họp thứ mười"),
    ("Quý IV", "Quý bốn"),
    ("Đại hội XIII của Đảng", "Đại hội mười ba của Đảng"),
    ("khóa XV", "khóa mười lăm"),
    ("thế kỷ XXI", "thế kỷ hai mươi mốt"),
    ("Đại hội Đảng bộ xã lần thứ XXI", "Đại hội Đảng bộ xã lần thứ hai mươi mốt"),
    ("quý II/2026", "quý hai năm hai nghìn không trăm hai mươi sáu"),
    ("Chương III", "Chương ba"),
    ("T2-T6", "thứ hai đến thứ sáu"),
    ("T7, CN nghỉ", "thứ bảy, chủ nhật nghỉ"),
    ("T2-CN", "thứ hai đến chủ nhật"),
]


@pytest.mark.parametrize(("text", "expected"), IN_TEXT)
def test_numbers_in_text(text: str, expected: str) -> None:
    assert normalise(text) == expected
