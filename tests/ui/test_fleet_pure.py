"""Pure parts of the technician's pages: health series and availability, the offline map, node states in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hq_server.services import health_history as hh
from hq_server.ui import fleet_view as fv
from hq_server.ui import mapview
from loaxa_common.i18n import translations

VI = translations("vi").gettext
T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def ev(hours: float, event: str) -> SimpleNamespace:
    return SimpleNamespace(at=T0 + timedelta(hours=hours), event=event)


def test_availability_counts_online_time_and_disconnects() -> None:
    events = [ev(10, "offline"), ev(12, "online"), ev(13, "reboot")]
    spans = hh.intervals(events, "online", T0, T0 + timedelta(hours=24))
    assert [(s.start.hour, s.online) for s in spans] == [(0, True), (10, False), (12, True)]
    a = hh.availability(spans)
    assert a.uptime_percent == round(100 * 22 / 24, 2) and a.disconnects == 1 and a.unknown_s == 0
    unknown = hh.intervals([ev(6, "online")], None, T0, T0 + timedelta(hours=24))  # first seen at 06:00
    assert hh.availability(unknown).uptime_percent == 100.0 and hh.availability(unknown).unknown_s == 6 * 3600
    assert hh.availability(hh.intervals([], None, T0, T0 + timedelta(hours=1))).uptime_percent is None


def test_buckets_series_share_and_means() -> None:
    b = hh.buckets_for("24h", T0 + timedelta(hours=24, minutes=2))
    assert b.count == 288 and b.step_s == 300 and b.times[-1] == int((T0 + timedelta(hours=24)).timestamp())
    spans = hh.intervals([ev(12, "offline")], "online", b.start, T0 + timedelta(hours=24, minutes=5))
    share = hh.online_series(spans, b)
    assert share[0] == 1.0 and share[-1] == 0.0 and share[b.index(T0 + timedelta(hours=12))] == 0.0
    week = hh.buckets_for("7d", T0)
    assert week.count == 168 and week.step_s == 3600
    samples = [SimpleNamespace(at=T0 - timedelta(minutes=m), cpu_temp_c=t)
               for m, t in ((1, 50.0), (2, 52.0), (90, None))]
    temps = hh.mean_series(samples, hh.buckets_for("24h", T0), "cpu_temp_c")
    assert temps[-1] is None and 51.0 in temps and temps.count(None) == 287  # gaps stay gaps


def test_map_fits_positions_and_lists_tiles() -> None:
    points = [(21.0285, 105.8542), (21.0321, 105.8611), (21.0200, 105.8500)]
    view = mapview.fit(points, 960, 560, 48)
    assert view is not None and 14 <= view.zoom <= 18
    for lat, lon in points:
        x, y = view.place(lat, lon)
        assert 48 <= x <= 960 - 48 and 48 <= y <= 560 - 48
    bigger = mapview.fit([*points, (21.2, 106.0)], 960, 560, 48)
    assert bigger is not None and bigger.zoom < view.zoom
    tiles = mapview.tiles(view, "https://tiles.example/{z}/{x}/{y}.png")
    assert tiles and all(t.href.startswith(f"https://tiles.example/{view.zoom}/") for t in tiles)
    assert min(t.x for t in tiles) <= 0 and max(t.x for t in tiles) + 256 >= 960  # the whole view is covered
    metres, px = mapview.scale_bar(view, 21.03)
    assert 50 <= px <= 250 and str(metres)[0] in "125"
    assert mapview.fit([]) is None and mapview.fit([(21.0, 105.0)]).zoom == mapview.MAX_ZOOM


def test_node_states_in_plain_words() -> None:
    assert fv.node_state("online", {"audio_device_ok": True, "disk_free_bytes": 10 ** 10}, VI) == ("online", [])
    state, reasons = fv.node_state("online", {"audio_device_ok": False, "cpu_temp_c": 81.5, "clock_offset_ms": -3500,
                                              "disk_free_bytes": 50 * 1024 ** 2,
                                              "problems": {"worker_restarted:player": "x"}}, VI)
    assert state == "degraded"
    assert reasons == ["thiết bị âm thanh không hoạt động", "bộ nhớ gần đầy (còn 50,0 MB)", "quá nóng (81,5 °C)",
                       "đồng hồ lệch 3,5 giây", "một phần của phần mềm bị lỗi và đã được khởi động lại"]
    assert fv.node_state("offline", {"audio_device_ok": False}, VI) == ("offline", [])
    node = SimpleNamespace(id="loa-1", kind="speaker", state="online", zones=["thon-1"], location="", last_seen_at=None,
                           agent_version="", lat=None, lon=None,
                           last_health={"relay_on": True, "volume": 70, "disk_free_bytes": 3 * 1024 ** 3})
    f = fv.node_facts(node, {"thon-1": "Thôn 1"}, VI)
    assert (f.villages, f.relay, f.volume, f.disk, f.last_seen, f.state_text) == (
        "Thôn 1", "bật", "70%", "3,0 GB", "chưa bao giờ", "Đang hoạt động")
