"""Normaliser cases seen in commune use: đ/c, CN as Sunday, per-unit rates, bare fractions."""

from __future__ import annotations

import pytest

from loaxa_speech.normalise import normalise

COMRADE: list[tuple[str, str]] = [
    ("Kính mời đ/c Nguyễn Văn A dự họp.", "Kính mời đồng chí Nguyễn Văn A dự họp."),
    ("Đ/c Bí thư phát biểu.", "Đồng chí Bí thư phát biểu."),
    ("các đ/c đảng viên", "các đồng chí đảng viên"),
    ("mời Đ/C Hùng", "mời đồng chí Hùng"),
    ("mời 2 đ/c lên", "mời hai đồng chí lên"),
    ("Đ/c: thôn 3, xã Tân Lập", "Địa chỉ: thôn ba, xã Tân Lập"),  # before a colon it is an address
    ("giá 5.000đ/cái", "giá năm nghìn đồng một cái"),  # money per item is not a comrade
]

SUNDAY: list[tuple[str, str]] = [
    ("Họp lúc 8h CN tuần này.", "Họp lúc tám giờ chủ nhật tuần này."),
    ("vào 8h30 CN ngày 5/9", "vào tám giờ ba mươi phút chủ nhật ngày năm tháng chín"),
    ("Lúc 7h, CN", "Lúc bảy giờ, chủ nhật"),
    ("Làm việc từ thứ 2 đến CN.", "Làm việc từ thứ hai đến chủ nhật."),
    ("thứ 7 và CN", "thứ bảy và chủ nhật"),
    ("thứ 7, CN nghỉ", "thứ bảy, chủ nhật nghỉ"),
    ("Sáng CN, 25/11", "Sáng chủ nhật, ngày hai mươi lăm tháng mười một"),
    ("CN ngày 30/11 họp", "Chủ nhật ngày ba mươi tháng mười một họp"),
    ("Từ T2-CN", "Từ thứ hai đến chủ nhật"),
    # elsewhere CN is a worker, an initial or an unknown code: left for the TTS as written
    ("công nhân CN nhà máy", "công nhân CN nhà máy"),
    ("anh CN Hùng", "anh CN Hùng"),
    ("khu CN Tân Lập", "khu CN Tân Lập"),
]

RATES: list[tuple[str, str]] = [
    ("Phí vệ sinh 20.000 đồng/hộ/tháng.", "Phí vệ sinh hai mươi nghìn đồng một hộ một tháng."),
    ("Thu 20.000đ/hộ/tháng", "Thu hai mươi nghìn đồng một hộ một tháng"),
    ("50.000 đồng/người/ngày", "năm mươi nghìn đồng một người một ngày"),
    ("1 triệu đồng/hộ/năm", "một triệu đồng một hộ một năm"),
    ("10 kg/người/ngày", "mười ki-lô-gam một người một ngày"),
    ("60 km/h", "sáu mươi ki-lô-mét trên giờ"),
    ("2,34 triệu đồng/tháng", "hai phẩy ba mươi tư triệu đồng một tháng"),
]

FRACTIONS: list[tuple[str, str]] = [
    ("Đã hoàn thành 3/4 kế hoạch.", "Đã hoàn thành ba phần bốn kế hoạch."),
    ("trong 3/4 thời gian", "trong ba phần bốn thời gian"),
    ("Đạt 35/40 chỉ tiêu", "Đạt ba mươi lăm phần bốn mươi chỉ tiêu"),
    ("5/40 hộ chưa nộp", "năm phần bốn mươi hộ chưa nộp"),  # 40 cannot be a month
    ("còn 1/20 diện tích", "còn một phần hai mươi diện tích"),
    # still dates
    ("Ngày 3/4 họp", "Ngày ba tháng tư họp"),
    ("Họp 3/4 tại hội trường", "Họp ngày ba tháng tư tại hội trường"),
    ("ngày 32/13", "ngày 32/13"),  # an impossible date after "ngày" is a typo: left as written
    ("40/5", "40/5"),
]


@pytest.mark.parametrize(("text", "expected"), COMRADE + SUNDAY + RATES + FRACTIONS)
def test_gap(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_spoken_result_is_stable() -> None:
    spoken = normalise("Kính mời đ/c trưởng thôn họp lúc 8h CN; phí 20.000 đồng/hộ/tháng, đạt 3/4 kế hoạch.")
    assert normalise(spoken) == spoken
