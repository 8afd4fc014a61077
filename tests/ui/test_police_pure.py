"""Pure parts of the police post's pages: camera states with their node's, wall order, history band, alert words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hq_server.ui import camera_view as cv
from loaxa_common.i18n import translations

VI = translations("vi").gettext
T0 = datetime(2026, 11, 28, tzinfo=UTC)


def cam(ident: str, status: str, name: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=ident, status=status, location=name, node_id="n1", zone="thon-1", status_since=T0,
                           last_health={"detail": "cannot open http://10.0.0.5/x"})


def test_a_dead_node_means_the_camera_is_not_watched() -> None:
    assert cv.camera_state("ok", "offline") == "node_offline"
    assert cv.camera_state("frozen", "online") == "frozen" and cv.camera_state("weird", None) == "unknown"
    f = cv.camera_facts(cam("c1", "ok", "Cổng trường"), "offline", {"thon-1": "Thôn 1"}, None, VI)
    assert (f.state, f.tone, f.state_text, f.village, f.since) == (
        "node_offline", "bad", "Máy trạm mất kết nối: camera không được giám sát", "Thôn 1", "")
    police = cv.camera_facts(cam("c2", "offline"), "online", {}, ("s1", T0), VI, technical=False)
    assert police.detail == "" and police.name == "c2" and police.snapshot == "s1"  # no technical English
    assert cv.camera_facts(cam("c2", "offline"), "online", {}, None, VI).detail.startswith("cannot open")


def test_wall_puts_problems_first() -> None:
    cams = (("a", "ok", "An"), ("b", "blurred", "Bình"), ("c", "offline", "Cầu"), ("d", "unknown", "Đò"))
    facts = [cv.camera_facts(cam(i, s, n), "online", {}, None, VI) for i, s, n in cams]
    assert [f.id for f in cv.wall_order(facts)] == ["c", "b", "d", "a"]


def test_history_band_segments() -> None:
    ev = [SimpleNamespace(at=T0 + timedelta(hours=h), status=s) for h, s in ((2, "offline"), (3, "ok"), (3.5, "ok"))]
    segs = cv.status_segments(ev, "ok", T0, T0 + timedelta(hours=6))
    assert [(s.status, s.start.hour, s.end.hour) for s in segs] == [("ok", 0, 2), ("offline", 2, 3), ("ok", 3, 6)]
    assert round(sum(s.share(T0, T0 + timedelta(hours=6)) for s in segs)) == 100
    assert cv.status_segments([], None, T0, T0 + timedelta(hours=1))[0].status == "unknown"


def test_alerts_in_plain_vietnamese_with_camera_names() -> None:
    names = {"cho-xa": "Chợ xã"}
    msg = "Camera cho-xa: ok → offline (cannot open http://10.0.0.9/cam)"
    assert cv.alert_text("camera_status", msg, names, VI) == \
        "Camera Chợ xã: Mất hình: không kết nối được camera (cannot open http://10.0.0.9/cam)"
    assert cv.alert_text("camera_status", msg, names, VI, technical=False) == \
        "Camera Chợ xã: Mất hình: không kết nối được camera"
    assert cv.alert_text("node_offline", "Node loa-3 offline for 5.2 min (since x)", names, VI) == \
        "Máy trạm loa-3 đã mất kết nối 5 phút"
    assert cv.alert_text("camera_detection", "Có người ở Cổng trường lúc 22:10", names, VI) == \
        "Có người ở Cổng trường lúc 22:10"  # already worded by HQ: shown as it is
