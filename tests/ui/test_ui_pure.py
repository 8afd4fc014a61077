"""Pure parts of the web UI: Vietnamese formats, village names and matching, failure reasons in words,
calendar expansion, complete catalogs, vendored files matching their manifest."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, date, datetime
from types import SimpleNamespace

from hq_server.services.calendar import bulletin_entries, recurrence_dates, window_entries
from hq_server.ui import delivery_text as dt
from hq_server.ui.fmt import duration_text, fmt_date, fmt_datetime, fmt_number, fmt_time
from hq_server.ui.villages import Village, fold, match, natural_key, suggest
from loaxa_common.i18n import normalise_language, translations
from tests.conftest import REPO

VI = translations("vi").gettext


def test_vietnamese_dates_times_and_numbers() -> None:
    t = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)  # 07:30 in Hà Nội
    assert fmt_date(t) == "28/11/2026" and fmt_time(t) == "07:30" and fmt_datetime(t) == "07:30 28/11/2026"
    assert fmt_date(date(2026, 1, 5)) == "05/01/2026" and fmt_date("2026-12-01") == "01/12/2026"
    assert fmt_number(1234567.5, 1) == "1.234.567,5"
    assert duration_text(65, VI) == "1 phút 05 giây" and duration_text(9.4, VI) == "9 giây"


def test_village_names_and_matching() -> None:
    assert fold("Thôn Đông Ấp") == "thon dong ap"
    vs = [Village("thon-1", "Thôn 1"), Village("thon-2", "Thôn 2"), Village("thon-10", "Thôn 10"),
          Village("ban-mong", "Bản Mông")]
    assert [v.id for v in match("ban", vs)] == ["ban-mong"]
    assert match("thon mot", vs) == []  # a misspelling matches nothing...
    assert [v.name for v in suggest("thon 3", vs)][:1] in (["Thôn 1"], ["Thôn 2"])  # ...but gets suggestions
    assert sorted(["Thôn 10", "Thôn 2"], key=natural_key) == ["Thôn 2", "Thôn 10"]


def test_states_and_reasons_in_plain_vietnamese() -> None:
    assert dt.state_label("played", VI) == "Đã phát" and dt.state_label("scheduled", VI) == "Đã lên lịch"
    assert dt.state_label("received", VI) == "Đã nhận" and dt.state_label("playing", VI) == "Đang phát"
    assert dt.reason_text("rejected: bad_signature", VI) == "loa từ chối: chữ ký không hợp lệ"
    assert dt.reason_text("node offline until expiry", VI) == "loa mất kết nối đến khi bản tin hết hạn"
    assert dt.reason_text("stopped at 'received' before expiry", VI) == "dừng ở bước “Đã nhận” khi hết hạn"
    assert dt.reason_text("something new", VI) == "something new"  # unknown reasons are shown, never hidden
    en = translations("en").gettext
    assert dt.state_label("played", en) == "Played"


def test_recurrence_expansion() -> None:
    weekly = {"kind": "weekly", "at": "06:30:00", "weekdays": [0, 4], "end_date": "2026-12-10"}
    days = recurrence_dates(weekly, date(2026, 11, 30), date(2026, 12, 13))
    assert days == [date(2026, 11, 30), date(2026, 12, 4), date(2026, 12, 7)]
    monthly = {"kind": "monthly", "at": "07:00:00", "month_days": [1, 15]}
    assert recurrence_dates(monthly, date(2026, 11, 28), date(2026, 12, 31)) == [date(2026, 12, 1), date(2026, 12, 15)]
    b = SimpleNamespace(id="b1", title="Vệ sinh", kind="text", priority="normal", state="active", targets={"all": True},
                        recurrence={"kind": "daily", "at": "05:00:00"}, audio_duration_s=30.0,
                        created_at=datetime(2026, 11, 28, 1, tzinfo=UTC),
                        expires_at=datetime(2026, 11, 29, 21, tzinfo=UTC), send_at=None, play_at=None,
                        relay_end_at=None)
    entries = bulletin_entries(b, date(2026, 11, 27), date(2026, 12, 3))
    # not before it was created, not after it expires; 05:00 local = 22:00 UTC the day before
    assert [e.start.astimezone(UTC).isoformat() for e in entries] == ["2026-11-28T22:00:00+00:00"]
    wins = window_entries("zone", "thon-1", {"windows": [{"start": "05:30", "end": "06:30", "days": [5]}]},
                          date(2026, 11, 28), date(2026, 12, 4))
    assert [(w.day, w.start, w.end) for w in wins] == [(date(2026, 11, 28), "05:30", "06:30")]


def test_language_choice() -> None:
    assert normalise_language("en-US") == "en" and normalise_language("fr") == "vi" and normalise_language(None) == "vi"


def test_catalogs_are_complete_and_current() -> None:
    """Every message in the code and templates is in the catalogs, and translated into Vietnamese."""
    out = subprocess.run([sys.executable, "scripts/i18n.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_vendored_assets_match_their_manifest() -> None:
    spec = importlib.util.spec_from_file_location("vendor_assets", REPO / "scripts" / "vendor_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check() == []


def test_voice_label_says_engine_voice_and_quality() -> None:
    from hq_server.ui.voice_text import voice_label

    vi = translations("vi").gettext
    assert voice_label("gtts", "vi", "neural", vi) == "Google Translate (vi) · giọng tự nhiên (AI)"
    assert voice_label("gtts+espeak", "vi", "robotic", vi) == "Google Translate + espeak-ng (vi) · giọng máy, khó nghe"
    assert voice_label("recording", "", "human", vi) == "giọng người (ghi âm)"
    assert voice_label("new-engine", None, "robotic", vi) == "new-engine · giọng máy, khó nghe"


def test_audit_labels_name_existing_routes() -> None:
    """Every labelled action is a route HQ serves (a renamed or removed route fails here, not silently)."""
    from hq_server.app import ROUTE_MODULES
    from hq_server.ui import audit_text

    served = {(s.method, s.path) for m in ROUTE_MODULES for s in m.routes.specs}
    assert set(audit_text.LABELS) <= served, set(audit_text.LABELS) - served
    routes = {s.summary: (s.method, s.path) for m in ROUTE_MODULES for s in m.routes.specs}
    routes.update(audit_text.ROUTE_OF_ACTION)
    assert audit_text.action_label("Create a user", routes, VI) == "Tạo tài khoản"
    assert audit_text.action_label("login", routes, VI) == "Đăng nhập"
    assert audit_text.action_label("GET /something", routes, VI) == "GET /something"  # unknown: shown as recorded
