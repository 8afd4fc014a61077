"""The technician's, police post's and administrator's pages render for their roles in Vietnamese (the default) and
in English (the toggle), with no Vietnamese left untranslated in the English page, and answer 403 to the others."""

from __future__ import annotations

import html
import re

import pytest

from hq_server.storage.tables import Alert, Camera, CameraEvent, Node, NodeEvent, now
from hq_server.web import DB
from tests.hq.fixtures import Hq
from tests.ui.test_pages import get, login

PAGES = {"technician-1": ("/nodes", "/map", "/nodes/loa-1", "/nodes/new", "/cameras", "/cameras/gate", "/alerts",
                          "/statistics"),
         "police-1": ("/cameras", "/cameras/gate", "/alerts"),
         "admin-1": ("/users", "/tokens", "/audit", "/statistics", "/settings", "/nodes/loa-1", "/cameras/gate")}
FORBIDDEN = {"police-1": ("/nodes", "/map", "/nodes/loa-1", "/users", "/audit", "/statistics", "/settings"),
             "technician-1": ("/users", "/tokens", "/audit", "/settings", "/compose"),
             "broadcaster-1": ("/cameras", "/alerts", "/users", "/audit")}
VIETNAMESE = re.compile(r"[À-ỹđĐ]")


async def records(hq: Hq) -> None:
    """Records named in plain ASCII, so any Vietnamese letter on an English page is an untranslated text."""
    status, body = await hq.call("POST", "/api/v1/zones", json={"slug": "village-1", "name": "Village One"})
    assert status == 201, body
    async with hq.app[DB].sessions() as s:
        s.add_all([Node(id="loa-1", zones=["village-1"], state="online", lat=21.0285, lon=105.8542, last_seen_at=now(),
                        state_since=now(), agent_version="1.0", last_health={"volume": 70, "amp_on": False}),
                   Node(id="cam-node", kind="camera", zones=["village-1"], state="offline", state_since=now()),
                   NodeEvent(node_id="loa-1", event="online"), NodeEvent(node_id="cam-node", event="offline"),
                   Camera(id="gate", name="School gate", node_id="cam-node", zone="village-1", status="offline",
                          status_since=now()),
                   CameraEvent(camera_id="gate", status="ok"), CameraEvent(camera_id="gate", status="offline"),
                   Alert(kind="camera_status", subject="gate", message="Camera gate: ok → offline",
                         severity="critical")])
        await s.commit()


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("user", sorted(PAGES))
async def test_pages_render_in_vietnamese_and_english(hq: Hq, user: str) -> None:
    await records(hq)
    await login(hq, user)
    for path in PAGES[user]:
        status, body, _ = await get(hq, path)
        assert status == 200 and 'lang="vi"' in body and "Đăng xuất" in body, (path, status)
    status, _, _ = await get(hq, "/lang/en?next=/")
    assert status == 302
    for path in PAGES[user]:
        status, body, _ = await get(hq, path)
        assert status == 200 and 'lang="en"' in body, (path, status)
        leaked = sorted({w for w in visible_text(body).split() if VIETNAMESE.search(w)} - {"Tiếng", "Việt"})
        assert not leaked, f"{path} in English still shows: {leaked}"


@pytest.mark.parametrize("user", sorted(FORBIDDEN))
async def test_pages_of_other_roles_answer_403(hq: Hq, user: str) -> None:
    await records(hq)
    await login(hq, user)
    for path in FORBIDDEN[user]:
        status, body, _ = await get(hq, path)
        assert status == 403 and "Không được phép" in body, (path, status)
