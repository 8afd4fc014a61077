"""Table-driven tests for the announcement normaliser, written from real-style commune bulletins."""

from __future__ import annotations

import unicodedata

import pytest

from loaxa_speech.normalise import Normaliser, normalise

Y2026 = "hai nghìn không trăm hai mươi sáu"

DATES: list[tuple[str, str]] = [
    ("ngày 25/11/2026", f"ngày hai mươi lăm tháng mười một năm {Y2026}"),
    ("Hạn chót 25/11/2026.", f"Hạn chót ngày hai mươi lăm tháng mười một năm {Y2026}."),
    ("Ngày 25-11-2026", f"Ngày hai mươi lăm tháng mười một năm {Y2026}"),
    ("ngày 25.11.2026", f"ngày hai mươi lăm tháng mười một năm {Y2026}"),
    ("ngày 5/9", "ngày năm tháng chín"),
    ("mùng 2/9", "mùng hai tháng chín"),
    ("sáng 25/11", "sáng ngày hai mươi lăm tháng mười một"),
    ("từ 20/11 đến 25/11", "từ ngày hai mươi tháng mười một đến ngày hai mươi lăm tháng mười một"),
    ("ngày 01/04/2026", f"ngày một tháng tư năm {Y2026}"),
    ("ngày 20-25/11", "ngày hai mươi đến hai mươi lăm tháng mười một"),
    ("từ 3-5/12/2026", f"từ ngày ba đến năm tháng mười hai năm {Y2026}"),
    ("tháng 4/2026", f"tháng tư năm {Y2026}"),
    ("trong 11/2026", f"trong tháng mười một năm {Y2026}"),
    ("ngày 25 tháng 4 năm 2026", f"ngày hai mươi lăm tháng tư năm {Y2026}"),
    ("2026-11-25", f"ngày hai mươi lăm tháng mười một năm {Y2026}"),
    ("ngày 32/13", "ngày 32/13"),
    ("thứ 7 (ngày 28/11)", "thứ bảy (ngày hai mươi tám tháng mười một)"),
    ("tỷ lệ 1/3", "tỷ lệ một phần ba"),
    ("1/2 số hộ", "một phần hai số hộ"),
    ("chiếm 2/3", "chiếm hai phần ba"),
]

TIMES: list[tuple[str, str]] = [
    ("lúc 7h", "lúc bảy giờ"),
    ("lúc 7h30", "lúc bảy giờ ba mươi phút"),
    ("vào 07:30 sáng", "vào bảy giờ ba mươi phút sáng"),
    ("lúc 14:00", "lúc mười bốn giờ"),
    ("7 giờ 30 sáng mai", "bảy giờ ba mươi sáng mai"),
    ("13h30 chiều", "mười ba giờ ba mươi phút chiều"),
    ("lúc 7h05", "lúc bảy giờ năm phút"),
    ("7g30 sáng", "bảy giờ ba mươi phút sáng"),
    ("từ 7h30-11h", "từ bảy giờ ba mươi phút đến mười một giờ"),
    ("từ 13h30 - 17h", "từ mười ba giờ ba mươi phút đến mười bảy giờ"),
    ("lúc 19h30'", "lúc mười chín giờ ba mươi phút"),
    ("lúc 8h15 phút", "lúc tám giờ mười lăm phút"),
    ("14:30:15", "mười bốn giờ ba mươi phút mười lăm giây"),
    ("lúc 7h75", "lúc 7h75"),
]

DURATIONS: list[tuple[str, str]] = [
    ("thời gian 90'", "thời gian chín mươi phút"),
    ("kéo dài 2h", "kéo dài hai giờ"),
    ("mỗi ca 1h30'", "mỗi ca một giờ ba mươi phút"),
    ("sau 30s", "sau ba mươi giây"),
    ("kéo dài 25h", "kéo dài hai mươi lăm giờ"),
    ("trong 45 phút", "trong bốn mươi lăm phút"),
    ("cách ly 14 ngày", "cách ly mười bốn ngày"),
]

MONEY: list[tuple[str, str]] = [
    ("giá 50.000đ", "giá năm mươi nghìn đồng"),
    ("mức thu 50.000 đồng", "mức thu năm mươi nghìn đồng"),
    ("hỗ trợ 1,5 triệu", "hỗ trợ một phẩy năm triệu"),
    ("1,5 triệu đồng/người", "một phẩy năm triệu đồng một người"),
    ("tổng vốn 2 tỷ đồng", "tổng vốn hai tỷ đồng"),
    ("50.000 VNĐ", "năm mươi nghìn đồng"),
    ("200.000VND", "hai trăm nghìn đồng"),
    ("50,000đ", "năm mươi nghìn đồng"),
    ("30.000đ/kg", "ba mươi nghìn đồng một ki-lô-gam"),
    ("100.000 đồng/tháng", "một trăm nghìn đồng một tháng"),
    ("mức phạt 500k", "mức phạt năm trăm nghìn đồng"),
    ("1.200.000đ", "một triệu hai trăm nghìn đồng"),
    ("100 USD", "một trăm đô la Mỹ"),
    ("lương cơ sở 2,34 triệu đồng/tháng", "lương cơ sở hai phẩy ba mươi tư triệu đồng một tháng"),
    ("giá lúa 7.500-8.000 đồng/kg", "giá lúa bảy nghìn năm trăm đến tám nghìn đồng một ki-lô-gam"),
    ("hơn 1.000.000.000đ", "hơn một tỷ đồng"),
    ("đóng 1.105.000 đồng", "đóng một triệu một trăm linh năm nghìn đồng"),
    ("50.000-70.000đ", "năm mươi nghìn đến bảy mươi nghìn đồng"),
]

PERCENT_UNITS: list[tuple[str, str]] = [
    ("đạt 95%", "đạt chín mươi lăm phần trăm"),
    ("tăng 2,5%", "tăng hai phẩy năm phần trăm"),
    ("giảm 5-7%", "giảm năm đến bảy phần trăm"),
    ("100 % hộ", "một trăm phần trăm hộ"),
    ("cách 3 km", "cách ba ki-lô-mét"),
    ("dài 2,5km", "dài hai phẩy năm ki-lô-mét"),
    ("rộng 500 m", "rộng năm trăm mét"),
    ("diện tích 2 ha", "diện tích hai héc-ta"),
    ("150 m2 đất", "một trăm năm mươi mét vuông đất"),
    ("120m² sàn", "một trăm hai mươi mét vuông sàn"),
    ("30 m3 nước", "ba mươi mét khối nước"),
    ("nặng 25 kg", "nặng hai mươi lăm ki-lô-gam"),
    ("10 kg/người", "mười ki-lô-gam một người"),
    ("500g thịt", "năm trăm gam thịt"),
    ("thu hoạch 6 tấn/ha", "thu hoạch sáu tấn một héc-ta"),
    ("nhiệt độ 30°C", "nhiệt độ ba mươi độ xê"),
    ("từ 20-25°C", "từ hai mươi đến hai mươi lăm độ xê"),
    ("khoảng 35oC", "khoảng ba mươi lăm độ xê"),
    ("từ 18 độ C", "từ mười tám độ xê"),
    ("lượng mưa 50-100 mm", "lượng mưa năm mươi đến một trăm mi-li-mét"),
    ("mưa 200mm", "mưa hai trăm mi-li-mét"),
    ("tốc độ 40 km/h", "tốc độ bốn mươi ki-lô-mét trên giờ"),
    ("5 lít nước", "năm lít nước"),
    ("2l xăng", "hai lít xăng"),
    ("15 cm", "mười lăm xen-ti-mét"),
    ("điện 220V", "điện hai trăm hai mươi vôn"),
    ("100 kWh", "một trăm ki-lô-oát giờ"),
]

PHONES: list[tuple[str, str]] = [
    ("Điện thoại: 0912 345 678", "Điện thoại: không chín một hai, ba bốn năm, sáu bảy tám"),
    ("ĐT: 0912.345.678", "Điện thoại: không chín một hai, ba bốn năm, sáu bảy tám"),
    ("liên hệ 0987654321", "liên hệ không chín tám bảy, sáu năm bốn, ba hai một"),
    ("số 0912-345-678", "số không chín một hai, ba bốn năm, sáu bảy tám"),
    ("hoặc SĐT 0356 123 456", "hoặc số điện thoại không ba năm sáu, một hai ba, bốn năm sáu"),
    ("gọi +84 912 345 678", "gọi cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám"),
    ("(0210) 3845 123", "không hai một không, ba tám bốn năm, một hai ba"),
    ("hotline 1900 1234", "hotline một chín không không, một hai ba bốn"),
    ("đường dây nóng 1800 1567", "đường dây nóng một tám không không, một năm sáu bảy"),
    ("gọi 113", "gọi một một ba"),
    ("gọi ngay 114 khi có cháy", "gọi ngay một một bốn khi có cháy"),
    ("Tổng đài 115", "Tổng đài một một năm"),
    ("số 02103845123", "số không hai một không, ba tám bốn, năm một hai ba"),
]

ADDRESSES: list[tuple[str, str]] = [
    ("số 12/3 đường Lê Lợi", "số mười hai trên ba đường Lê Lợi"),
    ("nhà số 45/12/7", "nhà số bốn mươi lăm trên mười hai trên bảy"),
    ("ngõ 5/2", "ngõ năm trên hai"),
    ("hẻm 12A/3", "hẻm mười hai a trên ba"),
    ("số nhà 5A", "số nhà năm a"),
    ("số 21B Trần Phú", "số hai mươi mốt bê Trần Phú"),
    ("thôn 3", "thôn ba"),
    ("tổ dân phố 14", "tổ dân phố mười bốn"),
    ("QL1A", "quốc lộ một a"),
    ("tuyến ĐT.741", "tuyến đường tỉnh bảy trăm bốn mươi mốt"),
    ("Quốc lộ 14", "Quốc lộ mười bốn"),
    ("Quyết định số 123/QĐ-UBND", "Quyết định số một trăm hai mươi ba quyết định ủy ban nhân dân"),
    (
        "Nghị định 15/2020/NĐ-CP",
        "Nghị định mười lăm năm hai nghìn không trăm hai mươi nghị định chính phủ",
    ),
    ("Kế hoạch 45/KH-UBND", "Kế hoạch bốn mươi lăm kế hoạch ủy ban nhân dân"),
    ("Công văn số 123/UBND-VP", "Công văn số một trăm hai mươi ba ủy ban nhân dân văn phòng"),
    ("Thông báo số 05/TB-UBND", "Thông báo số năm thông báo ủy ban nhân dân"),
]

ABBREVIATIONS: list[tuple[str, str]] = [
    ("UBND xã Tân Lập thông báo", "Ủy ban nhân dân xã Tân Lập thông báo"),
    ("kỳ họp HĐND huyện", "kỳ họp hội đồng nhân dân huyện"),
    ("Ủy ban MTTQ xã", "Ủy ban mặt trận tổ quốc xã"),
    ("các HTX nông nghiệp", "các hợp tác xã nông nghiệp"),
    ("trường THCS Kim Đồng", "trường trung học cơ sở Kim Đồng"),
    ("học sinh THPT", "học sinh trung học phổ thông"),
    ("thẻ BHYT", "thẻ bảo hiểm y tế"),
    ("đóng BHXH tự nguyện", "đóng bảo hiểm xã hội tự nguyện"),
    ("lực lượng CSGT", "lực lượng cảnh sát giao thông"),
    ("công tác PCCC", "công tác phòng cháy chữa cháy"),
    ("PCCCR mùa khô", "Phòng cháy chữa cháy rừng mùa khô"),
    ("tại TP. Hồ Chí Minh", "tại thành phố Hồ Chí Minh"),
    ("về TP.HCM", "về thành phố Hồ Chí Minh"),
    ("Q. Ba Đình", "Quận Ba Đình"),
    ("ở Q.1", "ở quận một"),
    ("tại P. Bến Nghé", "tại phường Bến Nghé"),
    ("về TT. Phố Mới", "về thị trấn Phố Mới"),
    ("làm CCCD gắn chip", "làm căn cước công dân gắn chip"),
    ("Bộ NN&PTNT", "Bộ nông nghiệp và phát triển nông thôn"),
    ("phát triển KT-XH", "phát triển kinh tế xã hội"),
    ("xây dựng NTM", "xây dựng nông thôn mới"),
    ("UBND, HĐND và MTTQ", "Ủy ban nhân dân, hội đồng nhân dân và mặt trận tổ quốc"),
    ("họp tại UBND.", "họp tại ủy ban nhân dân."),
    ("vùng P.", "vùng P."),
    ("Xong. UBND xã họp", "Xong. Ủy ban nhân dân xã họp"),
    ("Kết luận:\nBHYT bắt buộc", "Kết luận:\nBảo hiểm y tế bắt buộc"),
    ("mực nước trên báo động II", "mực nước trên báo động hai"),
    ("tốc độ xả 500 m3/s", "tốc độ xả năm trăm mét khối trên giây"),
    ("XYZ là gì", "XYZ là gì"),
    ("UBNDX", "UBNDX"),
]

UNTOUCHED: list[tuple[str, str]] = [
    ("Đoàn thanh niên xã thông báo", "Đoàn thanh niên xã thông báo"),
    ("điện thoại di động", "điện thoại di động"),
    ("hòa giải ở cơ sở, thủy lợi, thuỷ lợi, hoà", "hòa giải ở cơ sở, thủy lợi, thuỷ lợi, hoà"),
    ("Khuyến nông, khuyến ngư.", "Khuyến nông, khuyến ngư."),
    ("F0 và COVID", "F0 và COVID"),
    ("phòng chống COVID-19", "phòng chống cô-vít mười chín"),
    ("số tài khoản 1234567890123", "số tài khoản một hai ba bốn năm sáu bảy tám chín không một hai ba"),
    ("email ubnd@tanlap.gov.vn", "email ubnd@tanlap.gov.vn"),
    ("mã H5N1", "mã H5N1"),
    ("ký hiệu 1/2/3/4/5", "ký hiệu 1/2/3/4/5"),
    ("@loaxa #tin", "@loaxa #tin"),
    ("", ""),
    ("   ", " "),
    ("Dòng 1\nDòng 2", "Dòng một\nDòng hai"),
]

ALL_CASES = DATES + TIMES + DURATIONS + MONEY + PERCENT_UNITS + PHONES + ADDRESSES + ABBREVIATIONS + UNTOUCHED


@pytest.mark.parametrize(("text", "expected"), ALL_CASES)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Đoàn viên thanh niên", "thoại", "Thuỷ lợi", "Hòa Bình", "khoẻ mạnh", "ủy ban", "uỷ ban"],
)
def test_tone_marks_never_move(text: str) -> None:
    assert normalise(text) == text


@pytest.mark.parametrize("text", ["Đoàn thanh niên", "Thoại 0912 345 678", "UBND xã Hòa Bình ngày 5/9"])
def test_decomposed_input_is_composed(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert normalise(decomposed) == normalise(text)
    assert unicodedata.is_normalized("NFC", normalise(decomposed))


@pytest.mark.parametrize(
    ("extra", "text", "expected"),
    [
        ({"HTXDVNN": "hợp tác xã dịch vụ nông nghiệp"}, "HTXDVNN Tân Lập", "Hợp tác xã dịch vụ nông nghiệp Tân Lập"),
        ({"UBND": "uỷ ban nhân dân"}, "Chủ tịch UBND xã", "Chủ tịch uỷ ban nhân dân xã"),
        ({"BQLDA": "ban quản lý dự án"}, "Theo 12/BQLDA", "Theo mười hai ban quản lý dự án"),
        ({"Tx.": "thị xã"}, "về Tx. Sơn Tây", "về thị xã Sơn Tây"),
    ],
)
def test_extra_abbreviations(extra: dict[str, str], text: str, expected: str) -> None:
    assert Normaliser(extra_abbreviations=extra).normalise(text) == expected


BULLETIN = (
    "UBND xã Tân Lập thông báo: Vào lúc 7h30 thứ 2, ngày 25/11/2026, tại hội trường UBND xã tổ chức "
    "tiêm vắc-xin cho trẻ từ 0-5 tuổi. Mức hỗ trợ 50.000đ/người. Mọi thắc mắc liên hệ "
    "ĐT: 0912 345 678."
)
BULLETIN_SPOKEN = (
    "Ủy ban nhân dân xã Tân Lập thông báo: Vào lúc bảy giờ ba mươi phút thứ hai, ngày hai mươi lăm tháng "
    f"mười một năm {Y2026}, tại hội trường ủy ban nhân dân xã tổ chức tiêm vắc-xin cho trẻ từ không đến năm "
    "tuổi. Mức hỗ trợ năm mươi nghìn đồng một người. Mọi thắc mắc liên hệ điện thoại: không chín một hai, "
    "ba bốn năm, sáu bảy tám."
)


def test_whole_bulletin() -> None:
    assert normalise(BULLETIN) == BULLETIN_SPOKEN


def test_normalise_is_idempotent_on_spoken_text() -> None:
    assert normalise(BULLETIN_SPOKEN) == BULLETIN_SPOKEN
