"""Administrator APIs behind the web UI: audit filters and search, report periods and groups (bulletin, seconds,
uptime), settings operators change (validated, applied at once and again after a restart), default programme."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from hq_server.localtime import LOCAL
from hq_server.services import reports
from hq_server.services import runtime_settings as rs
from hq_server.storage.tables import Bulletin, Delivery, Node, NodeEvent, now
from hq_server.web import DB
from tests.hq.fixtures import Hq


async def test_audit_filters_and_search(hq: Hq) -> None:
    for name in ("ngoc-anh", "van-ba"):
        status, _ = await hq.call("POST", "/api/v1/users", json={"username": name, "password": "mat-khau-dai-123",
                                                                 "role": "broadcaster"})
        assert status == 201
    await hq.call("POST", "/api/v1/users", json={"username": "ngoc-anh", "password": "mat-khau-dai-123",
                                                 "role": "police"})  # 409: exists
    _, found = await hq.call("GET", "/api/v1/audit?q=ngoc", role="admin")  # searched in the details too
    assert [(e["status"], e["detail"]["username"]) for e in found["audit"]] == [(201, "ngoc-anh")]
    _, refused = await hq.call("GET", "/api/v1/audit?q=users&outcome=refused", role="admin")
    assert [(e["status"], e["target"]) for e in refused["audit"]] == [(409, "/api/v1/users")]
    _, nobody = await hq.call("GET", "/api/v1/audit?user=police-1", role="admin")
    assert nobody["audit"] == []
    _, pct = await hq.call("GET", "/api/v1/audit?q=%25", role="admin")
    assert pct["audit"] == []  # a % typed in the search is a character, not a wildcard
    assert (await hq.call("GET", "/api/v1/audit?outcome=maybe", role="admin"))[0] == 400
    tomorrow = (now().astimezone(LOCAL) + timedelta(days=1)).date().isoformat()  # dates are the commune's
    _, future = await hq.call("GET", f"/api/v1/audit?from={tomorrow}", role="admin")
    assert future["audit"] == []
    status, text = await hq.call("GET", "/api/v1/audit?q=van-ba&format=csv", role="admin")
    assert status == 200 and '"username": "van-ba"' in text.replace('""', '"')


async def test_reports_periods_groups_and_uptime(hq: Hq) -> None:
    t = now()
    async with hq.app[DB].sessions() as s:
        s.add_all([Node(id="loa-1", zones=["thon-1"], state="online", state_since=t - timedelta(hours=1)),
                   Node(id="cam-1", kind="camera", zones=["thon-1"], state="online", state_since=t)])
        b = Bulletin(id="b1", title="Họp thôn", text="x", targets={"all": True}, expires_at=t + timedelta(hours=1),
                     state="completed", author="broadcaster-1", created_at=t - timedelta(hours=2))
        s.add(b)
        await s.flush()
        s.add_all([Delivery(bulletin_id="b1", node_id="loa-1", state="played", duration_s=12.4,
                            started_at=t - timedelta(hours=2)),
                   Delivery(bulletin_id="b1", node_id="cam-1", state="failed")])
        s.add_all([NodeEvent(node_id="loa-1", at=t - timedelta(hours=10), event="online"),
                   NodeEvent(node_id="loa-1", at=t - timedelta(hours=3), event="offline"),
                   NodeEvent(node_id="loa-1", at=t - timedelta(hours=1), event="online")])
        await s.commit()
    _, by_bulletin = await hq.call("GET", "/api/v1/reports/broadcasts?group=bulletin", role="broadcaster")
    assert by_bulletin["rows"] == [{"bulletin": "b1", "title": "Họp thôn", "bulletins": 1, "plays": 1,
                                    "seconds_played": 12, "minutes_played": 0.21, "failures": 0}]  # camera left out
    since = (t - timedelta(hours=1)).isoformat()
    _, later = await hq.call("GET", "/api/v1/reports/broadcasts?group=zone&from=" + since.replace("+", "%2B"),
                             role="broadcaster")
    assert later["rows"] == []  # created before the period
    assert (await hq.call("GET", "/api/v1/reports/broadcasts?from=2026-01-02&to=2026-01-01"))[0] == 400
    frm = (t - timedelta(hours=10)).isoformat().replace("+", "%2B")
    _, nodes = await hq.call("GET", f"/api/v1/reports/nodes?from={frm}", role="technician")
    loa = next(n for n in nodes["nodes"] if n["node"] == "loa-1")
    assert 79 <= loa["uptime_percent"] <= 81 and loa["disconnects"] == 1 and loa["reconnects"] == 2


def test_broadcast_rows_count_series_plays_by_occurrence() -> None:
    b = SimpleNamespace(id="s1", title="Vệ sinh", recurrence={"kind": "daily"}, sent_at=None,
                        created_at=now())
    d = SimpleNamespace(node_id="loa-1", state="played", duration_s=30, started_at=now())
    occ = [SimpleNamespace(node_id="loa-1", occurrence=f"2026-11-2{i}", duration_s=30) for i in (1, 2)]
    rows = reports.broadcast_rows([(d, b)], [(o, b) for o in occ], {"loa-1": ["thon-1"]}, set(), "day")
    assert [(r["day"], r["plays"], r["seconds_played"]) for r in rows if r["plays"]] == [
        ("2026-11-21", 1, 30), ("2026-11-22", 1, 30)]  # the delivery itself is not a play


def test_settings_checks() -> None:
    assert rs.check_webhook("  ") is None and rs.check_webhook("https://chat.example/hook") == "https://chat.example/hook"
    for bad in ("ftp://x", "http://", "https://user:pw@host/x", "http://a b"):
        with pytest.raises(rs.SettingError):
            rs.check_webhook(bad)
    assert rs.check_engines(["gtts", "espeak"]) == ["gtts", "espeak"]
    for bad in ([], ["espeak", "espeak"], ["nope"]):
        with pytest.raises(rs.SettingError):
            rs.check_engines(bad)


async def test_settings_apply_now_and_after_a_restart(start_hq) -> None:
    hq = await start_hq(bulletins={"tts_engines": ["espeak"]})
    status, body = await hq.call("PUT", "/api/v1/hq-settings/alert-webhook", role="admin", json={"url": "ftp://x"})
    assert status == 400 and "url" in body["fields"]
    assert (await hq.call("PUT", "/api/v1/hq-settings/alert-webhook", role="technician", json={"url": None}))[0] == 403
    status, _ = await hq.call("PUT", "/api/v1/hq-settings/alert-webhook", role="admin",
                              json={"url": "http://127.0.0.1:9/hook"})
    assert status == 200 and hq.orch.alerter.webhook_url == "http://127.0.0.1:9/hook"
    status, body = await hq.call("PUT", "/api/v1/hq-settings/tts-engines", role="admin", json={"engines": ["x"]})
    assert status == 400 and "engines" in body["fields"]
    status, _ = await hq.call("PUT", "/api/v1/hq-settings/tts-engines", role="admin",
                              json={"engines": ["piper", "espeak"]})
    assert status == 200
    status, body = await hq.call("PUT", "/api/v1/hq-settings/default-programme", role="admin",
                                 json={"windows": [{"start": "06:00", "end": "06:00"}]})
    assert status == 400 and "windows.0.end" in body["fields"]
    status, body = await hq.call("PUT", "/api/v1/hq-settings/default-programme", role="admin",
                                 json={"windows": [{"start": "05:30", "end": "06:30", "days": [0, 1, 2, 3, 4]}]})
    assert status == 200, body
    _, current = await hq.call("GET", "/api/v1/hq-settings", role="admin")
    assert current["tts_engines"]["engines"] == ["piper", "espeak"] and current["tts_engines"]["source"] == "ui"
    assert current["default_programme"]["value"]["windows"][0]["start"].startswith("05:30")

    again = await start_hq(tokens=hq.tokens, database={"url": str(hq.app[DB].engine.url)},
                           bulletins={"tts_engines": ["espeak"]})  # restart on the same database
    assert again.orch.alerter.webhook_url == "http://127.0.0.1:9/hook"
    _, current = await again.call("GET", "/api/v1/hq-settings", role="admin")
    assert current["tts_engines"]["engines"] == ["piper", "espeak"]
