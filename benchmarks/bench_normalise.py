"""Benchmark: time to normalise one 5 000-character commune bulletin.

Target (issue 6): under 20 ms per bulletin on the edge box. This prints numbers; it is not a test,
because timing asserts are flaky on shared CI runners.

    .venv/bin/python benchmarks/bench_normalise.py [--runs 200] [--chars 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from loaxa_speech.normalise import Normaliser

PARAGRAPHS = [
    "UBND xã Tân Lập thông báo: Vào lúc 7h30 thứ 2, ngày 25/11/2026, tại hội trường UBND xã tổ chức tiêm "
    "vắc-xin cho trẻ từ 0-5 tuổi. Mức hỗ trợ 50.000đ/người. Mọi thắc mắc liên hệ ĐT: 0912 345 678.",
    "Thực hiện Kế hoạch số 45/KH-UBND ngày 12/3/2026 của UBND huyện, Ban chỉ đạo PCCC xã đề nghị các HTX, "
    "hộ gia đình kiểm tra bình chữa cháy; gọi 114 khi có cháy. Nhiệt độ ngoài trời từ 35-37°C, độ ẩm 45%.",
    "Hội nông dân xã phối hợp với HTX dịch vụ nông nghiệp bán giống lúa với giá 18.500đ/kg, diện tích gieo "
    "cấy vụ Đông Xuân dự kiến 1.250,5 ha, năng suất bình quân 6,5 tấn/ha, tổng kinh phí 1,5 tỷ đồng.",
    "Đại hội Đảng bộ xã lần thứ XXI, nhiệm kỳ 2025-2030 sẽ diễn ra từ 20-22/5/2026. Đề nghị đảng viên có "
    "mặt lúc 07:30 tại số 12/3 đường Lê Lợi. Quý IV năm 2025 xã đã thu 105 triệu đồng quỹ BHYT, BHXH.",
    "Lượng mưa dự báo 50-100 mm, gió giật cấp 8, mực nước sông có thể lên -0,5 m so với báo động I. "
    "Đường dây nóng 1800 1567. CSGT huyện phân luồng tại QL1A từ 6h-18h hằng ngày, từ T2-CN.",
]


def make_bulletin(chars: int) -> str:
    """Repeat real-style paragraphs up to ``chars`` characters, ending on a whole word."""
    text = ""
    index = 0
    while len(text) < chars:
        text += PARAGRAPHS[index % len(PARAGRAPHS)] + "\n"
        index += 1
    return text[:chars].rsplit(" ", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--chars", type=int, default=5000)
    args = parser.parse_args()

    bulletin = make_bulletin(args.chars)
    started = time.perf_counter()
    normaliser = Normaliser()
    setup_ms = (time.perf_counter() - started) * 1000
    normaliser.normalise(bulletin)  # warm up caches

    timings: list[float] = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        normaliser.normalise(bulletin)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
    print(f"bulletin: {len(bulletin)} chars, runs: {args.runs}, Normaliser() setup: {setup_ms:.2f} ms")
    print(
        f"per bulletin: mean {statistics.fmean(timings):.2f} ms, median {statistics.median(timings):.2f} ms, "
        f"p95 {p95:.2f} ms, min {timings[0]:.2f} ms, max {timings[-1]:.2f} ms (target < 20 ms)"
    )


if __name__ == "__main__":
    main()
