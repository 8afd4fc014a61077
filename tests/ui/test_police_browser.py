"""Done-when of the police post, in Debian's Chromium against a real HQ, Mosquitto, a real camera node and
simulated cameras.

A camera tile goes ok → no picture when its stream dies and → "node offline" when its node dies (its
connection drops: the broker's last will), without a reload; the alerts arrive live on the feed with a cue,
one is acknowledged with a note and the filters (open / acknowledged / kind / camera) show only what they
say; a fresh snapshot appears; the camera page draws its condition over time; the live view shows frames
that change and never the camera's password; the police account cannot reach a broadcast page nor call a
broadcast API with its session. Desktop and phone width, screenshots of every page.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import camera_fault
from tests.hq.fixtures import Hq, wait_async
from tests.ui.browser import SCREENS, Screen, browser, login, new_page, shot  # noqa: F401  (browser: fixture)

pytestmark = pytest.mark.integration
FAST = {"sample_interval_s": 1.0, "confirm_interval_s": 0.5, "open_timeout_s": 2.0, "read_timeout_s": 2.0}
SECRET = "mk-camera-cong-truong-5521"
NAMES = {"cong-truong": "Cổng trường", "cho-xa": "Chợ xã"}
PLACES = {"cong-truong": "trường tiểu học", "cho-xa": "chợ trung tâm"}


async def camera_post(hq: Hq, camera_sim, start_agent):
    (_, a), (_, b) = sorted(camera_sim.items())
    await hq.add_zones("thon-1")
    agent = await start_agent("cam-node-1", zones=["thon-1"], node__kind="camera", cameras=[
        {"id": "cong-truong", "name": "Cổng trường", "url": a["url"], "username": "admin", "password": SECRET, **FAST},
        {"id": "cho-xa", "name": "Chợ xã", "url": b["url"], **FAST}])

    async def both_ok() -> bool:
        _, body = await hq.call("GET", "/api/v1/cameras", role="police")
        return {c["id"]: c["status"] for c in body["cameras"]} == {"cong-truong": "ok", "cho-xa": "ok"}

    await wait_async(both_ok, 60, "both cameras ok at HQ")
    for cam, place in PLACES.items():  # named on the node (Vietnamese); the technician records where they are
        status, body = await hq.call("PUT", f"/api/v1/cameras/{cam}", role="technician",
                                     json={"node": "cam-node-1", "zone": "thon-1", "location": place})
        assert status == 200, body
    return agent, b


async def frame_signature(page) -> str:
    """What the live <img> shows right now, drawn on a canvas (same origin: readable), as a short digest."""
    return await page.evaluate("""() => {
        const img = document.getElementById('live-img');
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) >>> 0;
        return `${c.width}x${c.height}:${h}`;
    }""")


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_police_post_wall_alerts_snapshot_and_live_view(start_hq, camera_sim, start_agent, browser,  # noqa: F811
                                                              screen: Screen) -> None:
    hq = await start_hq(alerts={"node_offline_after_s": 1})  # the node-offline alert without a 5-minute wait
    agent, cho_xa = await camera_post(hq, camera_sim, start_agent)
    wall = await new_page(browser, hq, screen)
    await login(wall, "police-1")
    await wall.wait_for_url("**/cameras")  # the police post lands on its cameras
    nav = await wall.locator("nav.main").inner_text()
    assert "Camera" in nav and "Cảnh báo" in nav and "Soạn bản tin" not in nav and "Loa" not in nav
    tile = wall.locator('.tile[data-camera="cho-xa"]')
    await wall.locator('.tile[data-camera="cho-xa"][data-state="ok"]').wait_for()
    assert "Chợ xã" in await tile.inner_text() and "Hoạt động tốt" in await tile.inner_text()
    # an open wall asks working cameras without a recent picture for one: it appears without a reload
    await wall.wait_for_function("document.querySelector('.tile[data-camera=\"cong-truong\"] img')?.naturalWidth > 0",
                                 timeout=40_000)

    feed = await wall.context.new_page()
    feed.js_errors = []
    feed.on("pageerror", lambda err: feed.js_errors.append(str(err)))
    await feed.goto("/alerts")
    await feed.get_by_role("button", name=re.compile("Bật chuông báo")).click()
    for p in (wall, feed):
        await p.evaluate("window.__sameDocument = true")

    # the stream of one camera dies: its tile turns red and comes first; the alert arrives live with a cue
    camera_fault(cho_xa, "disconnect")
    await wall.locator('.tile[data-camera="cho-xa"][data-state="offline"]').wait_for(timeout=60_000)
    assert "Mất hình" in await tile.inner_text()
    assert await wall.locator(".tile").first.get_attribute("data-camera") == "cho-xa"  # problems first
    await shot(wall, screen, "30-cameras")
    banner = feed.locator("#new-alerts")
    await banner.filter(has_text="cảnh báo mới").wait_for(timeout=30_000)
    assert await feed.evaluate("window.__alertCues") >= 1
    assert await feed.evaluate("window.__alertTones") >= 1  # the two tones were played (sound was switched on)
    alert = feed.locator("li.alert").filter(has_text="Chợ xã").filter(has_text="mất tín hiệu")
    await alert.first.wait_for()
    assert "new" in await alert.first.get_attribute("class")  # highlighted as new
    await shot(feed, screen, "31-alerts")

    # acknowledge it with a note (a note is required by the page)
    await alert.first.get_by_role("button", name="Xác nhận").click()
    dialog = feed.get_by_role("dialog")
    await dialog.get_by_role("button", name="Xác nhận").click()
    assert "ghi ngắn gọn" in await dialog.locator('[data-error-for="note"]').inner_text()
    await dialog.get_by_label("Ghi chú (đã làm gì hoặc thấy gì)").fill("Đã cử anh Minh ra kiểm tra cột camera.")
    await shot(feed, screen, "31-alerts-acknowledge")
    await dialog.get_by_role("button", name="Xác nhận").click()
    done = feed.locator("li.alert.acked").filter(has_text="police-1 đã xác nhận")
    await done.first.wait_for()
    assert "Đã cử anh Minh ra kiểm tra cột camera." in await done.first.inner_text()
    _, alerts = await hq.call("GET", "/api/v1/alerts", role="police")
    acked = [a for a in alerts["alerts"] if a["subject"] == "cho-xa" and a["acknowledged_by"] == "police-1"]
    assert acked and acked[0]["acknowledged_note"] == "Đã cử anh Minh ra kiểm tra cột camera."
    for p in (wall, feed):
        assert await p.evaluate("window.__sameDocument === true")

    # one camera: a fresh snapshot, then the live view (frames that change, no password anywhere)
    cam = await wall.context.new_page()
    cam.js_errors = []
    cam.on("pageerror", lambda err: cam.js_errors.append(str(err)))
    await cam.goto("/cameras/cong-truong")
    await cam.get_by_role("button", name="Chụp ảnh mới").click()
    await cam.locator("#pic-status").filter(has_text="Đã nhận ảnh mới").wait_for(timeout=60_000)
    await cam.wait_for_function("document.getElementById('cam-picture').naturalWidth > 0")
    await cam.get_by_role("button", name=re.compile("Xem trực tiếp")).click()
    card = cam.locator("#picture-card")
    await cam.wait_for_function("Number(document.getElementById('picture-card').dataset.frames || 0) >= 2",
                                timeout=40_000)
    await cam.wait_for_function("document.getElementById('live-img').naturalWidth > 0")
    first = await frame_signature(cam)
    frames = int(await card.get_attribute("data-frames"))
    await cam.wait_for_function(f"Number(document.getElementById('picture-card').dataset.frames) >= {frames + 3}",
                                timeout=30_000)
    second = await frame_signature(cam)
    assert first.split(":")[0] == second.split(":")[0] and first.startswith("320x"), (first, second)
    assert first != second  # the picture moves: live, not a still
    assert "Đang xem trực tiếp" in await cam.locator("#live-info").inner_text()
    await shot(cam, screen, "32-camera-live")
    html = await cam.content()
    assert SECRET not in html and "admin:" not in html
    await cam.get_by_role("button", name=re.compile("Dừng xem")).click()
    await cam.locator("#live-info").filter(has_text="Đã kết thúc xem trực tiếp").wait_for()
    assert await cam.locator("#live-img").is_hidden()

    # the node dies (its connection drops without a goodbye: the broker publishes its last will): every camera
    # it watches says "node offline" on the wall, and the node's alert arrives on the feed, without a reload
    await agent.link.kill()
    for camera in NAMES:
        await wall.locator(f'.tile[data-camera="{camera}"][data-state="node_offline"]').wait_for(timeout=40_000)
    assert "Máy trạm mất kết nối" in await wall.locator('.tile[data-camera="cong-truong"]').inner_text()
    assert await wall.evaluate("window.__sameDocument === true")
    await shot(wall, screen, "30-cameras-node-offline")
    await feed.locator('li.alert.new[data-kind="node_offline"][data-subject="cam-node-1"]').wait_for(timeout=40_000)
    assert "cam-node-1" in await feed.locator("li.alert.new").first.inner_text() and await banner.is_visible()
    assert await feed.evaluate("window.__sameDocument === true")
    await cam.reload()
    assert "Máy trạm mất kết nối" in await cam.locator("#cam-head").inner_text()
    await shot(cam, screen, "32-camera")

    # the camera page draws the condition over time: working, then no picture
    await cam.goto("/cameras/cho-xa")
    band = cam.locator("#status-band")
    assert await band.locator('[data-status="ok"]').count() >= 1
    assert await band.locator('[data-status="offline"]').count() >= 1
    assert "Mất hình" in await cam.locator("main").inner_text()
    assert "Đã cử anh Minh" in await cam.locator("#alert-list").inner_text()  # its alerts, with the note

    # the feed's filters show only what they say (the form applies itself on change)
    await feed.goto("/alerts")
    await alert_filter(feed, state="open")
    rows = await alert_rows(feed)
    assert ("node_offline", "cam-node-1", False) in rows and all(not acked for *_, acked in rows), rows
    await alert_filter(feed, state="acknowledged")
    rows = await alert_rows(feed)
    assert ("camera_status", "cho-xa", True) in rows and all(acked for *_, acked in rows), rows
    await alert_filter(feed, state="all", kind="node_offline")
    rows = await alert_rows(feed)
    assert rows and {kind for kind, *_ in rows} == {"node_offline"}, rows
    await alert_filter(feed, kind="", camera="cong-truong")  # its own alerts and its node's
    rows = await alert_rows(feed)
    assert rows and {subject for _, subject, _ in rows} <= {"cong-truong", "cam-node-1"}, rows
    await alert_filter(feed, kind="camera_status", camera="cho-xa")
    rows = await alert_rows(feed)
    assert rows and set(rows) == {("camera_status", "cho-xa", True)}, rows
    assert "Chợ xã" in await feed.locator("li.alert").first.inner_text()
    await shot(feed, screen, "31-alerts-filtered")

    # the police post never reaches the broadcast controls: not the pages, not the API with its session
    for path in ("/compose", "/relay", "/calendar", "/history", "/approvals", "/nodes"):
        resp = await cam.goto(path)
        assert resp.status == 403, path
        assert "Không được phép" in await cam.locator("main").inner_text()
    await shot(cam, screen, "33-forbidden")
    await cam.goto("/cameras")
    for method, path, body in (("POST", "/api/v1/bulletins", {"text": "x", "targets": {"all": True}}),
                               ("GET", "/api/v1/bulletins", None), ("GET", "/api/v1/calendar", None),
                               ("POST", "/api/v1/speech/preview", {"text": "x"}), ("GET", "/api/v1/nodes", None)):
        answer = await cam.evaluate("([m, p, b]) => LoaXa.api(m, p, b ?? undefined)", [method, path, body])
        assert answer["status"] == 403, (method, path, answer)
    _, bulletins = await hq.call("GET", "/api/v1/bulletins", role="admin")
    assert bulletins["bulletins"] == []  # nothing was sent
    await cam.goto("/")
    await cam.wait_for_url("**/cameras")


async def alert_filter(page, **values: str) -> None:
    """Choose the feed's filters as a person does (each select applies itself) and wait for that page."""
    for name, value in values.items():
        select = page.locator(f"#alert-filters select[name={name}]")
        if await select.input_value() != value:
            async with page.expect_navigation():
                await select.select_option(value)
    for name, value in values.items():
        assert await page.locator(f"#alert-filters select[name={name}]").input_value() == value


async def alert_rows(page) -> list[tuple[str, str, bool]]:
    """(kind, subject, acknowledged) of every alert the feed shows."""
    return [tuple(r) for r in await page.locator("li.alert").evaluate_all(
        "els => els.map(e => [e.dataset.kind, e.dataset.subject, e.classList.contains('acked')])")]


async def test_live_view_ends_by_itself_and_never_freezes(start_hq, camera_sim, start_agent, browser) -> None:  # noqa: F811
    """A live view ends at its time limit (here the shortest allowed, 10 s) without anyone pressing stop: the page
    empties the picture, says why in plain words and offers to watch again; the camera's picture is not left frozen."""
    hq = await start_hq(live_view={"max_s": 10})
    await camera_post(hq, camera_sim, start_agent)
    page = await new_page(browser, hq, SCREENS[0])
    await login(page, "police-1")
    await page.goto("/cameras/cho-xa")
    await page.get_by_role("button", name=re.compile("Xem trực tiếp")).click()
    await page.wait_for_function("Number(document.getElementById('picture-card').dataset.frames || 0) >= 1",
                                 timeout=40_000)
    assert await page.locator("#live-img").is_visible()
    info = page.locator("#live-info")
    await info.filter(has_text="Đã kết thúc xem trực tiếp: hết thời gian").wait_for(timeout=60_000)
    assert await page.locator("#picture-card").get_attribute("data-live") == "ended"
    assert await page.locator("#live-img").is_hidden()
    assert await page.evaluate("!document.getElementById('live-img').hasAttribute('src')")  # stream closed
    assert await page.get_by_role("button", name=re.compile("Xem trực tiếp")).is_visible()  # can watch again
