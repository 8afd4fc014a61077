"""Done-when of the technician's pages, in Debian's Chromium against a real HQ, Mosquitto and real edge agents.

A node whose sound output fails turns "Cần kiểm tra" and a node whose agent stops turns "Mất kết nối" on the
list, on the map and on its own page without a reload (and its page lists the event); the node page shows its
health over time, what it holds and what it played, assigns it to another village (HQ's record changes); its
programme window is set from the page for it alone and a volume for every loudspeaker of a village, each
applied by the nodes. Desktop and phone width, screenshots of every page.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta

import pytest

from hq_server.localtime import LOCAL
from tests.hq.fixtures import Hq, wait_async
from tests.ui.browser import SCREENS, Screen, browser, login, new_page, shot  # noqa: F401  (browser: fixture)
from tests.ui.test_broadcaster_browser import nodes_online

pytestmark = pytest.mark.integration
POSITIONS = {"thon1-loa-a": (21.0285, 105.8542), "thon2-loa-a": (21.0321, 105.8611)}


async def village_nodes(hq: Hq, start_agent, **overrides) -> dict:
    await hq.add_zones("thon-1", "thon-2")
    agents = {"thon1-loa-a": await start_agent("thon1-loa-a", zones=["thon-1"], **overrides),
              "thon2-loa-a": await start_agent("thon2-loa-a", zones=["thon-2"], **overrides)}
    await nodes_online(hq, *agents)
    for node, (lat, lon) in POSITIONS.items():
        zone = "thon-1" if node.startswith("thon1") else "thon-2"
        status, body = await hq.call("PUT", f"/api/v1/nodes/{node}", role="technician", json={
            "zones": [zone], "location": f"Cột loa {zone}", "lat": lat, "lon": lon})
        assert status == 200, body
    return agents


async def node_state(hq: Hq, node: str) -> str:
    _, body = await hq.call("GET", f"/api/v1/nodes/{node}", role="technician")
    return body["node"]["state"]


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_node_goes_offline_on_the_list_and_the_map(hq: Hq, start_agent, browser, screen: Screen) -> None:  # noqa: F811
    agents = await village_nodes(hq, start_agent, health_interval_s=2)
    page = await new_page(browser, hq, screen)
    await login(page, "technician-1")
    await page.wait_for_url("**/nodes")  # a technician lands on the loudspeakers
    row = page.locator('#node-list tr[data-node="thon2-loa-a"]')
    assert await row.get_attribute("data-state") == "online"
    assert "Đang hoạt động" in await row.inner_text() and "Thôn 2" in await row.inner_text()
    await shot(page, screen, "20-nodes")

    map_page = await page.context.new_page()
    map_page.js_errors = []
    map_page.on("pageerror", lambda err: map_page.js_errors.append(str(err)))
    await map_page.goto("/map")
    pin = map_page.locator('#map a.pin[data-node="thon2-loa-a"]')
    assert await pin.get_attribute("data-state") == "online"
    assert await map_page.locator("#map image").count() == 0  # no tiles configured: nothing fetched from outside
    await shot(map_page, screen, "21-map")
    node_page = await page.context.new_page()
    node_page.js_errors = []
    node_page.on("pageerror", lambda err: node_page.js_errors.append(str(err)))
    await node_page.goto("/nodes/thon2-loa-a")
    assert await node_page.locator("#node-head").get_attribute("data-state") == "online"
    for p in (page, map_page, node_page):
        await p.evaluate("window.__sameDocument = true")

    # thon1-loa-a's sound output fails (its file sink can no longer write, as a dead sound card): its next health
    # report turns it "Cần kiểm tra" (amber, with the reason) on the list and the map, live
    played = agents["thon1-loa-a"].config.audio.file_dir
    shutil.rmtree(played, ignore_errors=True)
    played.write_text("not a directory")
    one = page.locator('#node-list tr[data-node="thon1-loa-a"]')
    await page.locator('#node-list tr[data-node="thon1-loa-a"][data-state="degraded"]').wait_for(timeout=30_000)
    assert "Cần kiểm tra" in await one.inner_text() and "thiết bị âm thanh không hoạt động" in await one.inner_text()
    amber = map_page.locator('#map a.pin[data-node="thon1-loa-a"][data-state="degraded"]')
    await amber.wait_for(timeout=30_000)
    assert "warn" in await amber.get_attribute("class")
    await shot(page, screen, "20-nodes-degraded")

    await agents["thon2-loa-a"].stop()  # the agent says goodbye: HQ marks it offline
    await wait_async(lambda: _is(hq, "thon2-loa-a", "offline"), 30, "HQ to see the node offline")
    await page.locator('#node-list tr[data-node="thon2-loa-a"][data-state="offline"]').wait_for(timeout=30_000)
    assert "Mất kết nối" in await row.inner_text()
    assert await page.locator('[data-count="offline"]').first.inner_text() == "1"
    await map_page.locator('#map a.pin[data-node="thon2-loa-a"][data-state="offline"]').wait_for(timeout=30_000)
    assert "bad" in await pin.get_attribute("class")
    assert await one.get_attribute("data-state") == "degraded"
    await node_page.locator('#node-head[data-state="offline"]').wait_for(timeout=30_000)
    assert "Mất kết nối" in await node_page.locator('#node-head [data-field="state_text"]').inner_text()
    for p in (page, map_page, node_page):
        assert await p.evaluate("window.__sameDocument === true")  # updated live, never reloaded
    await shot(page, screen, "20-nodes-offline")
    await shot(map_page, screen, "21-map-offline")
    await node_page.reload()  # its recent events: the goodbye, after its connection
    events = node_page.locator('section[aria-labelledby="h-events"] tbody')
    assert "Mất kết nối" in await events.locator("tr").first.inner_text()
    assert "Kết nối lại" in await events.inner_text()
    await shot(node_page, screen, "22-node-offline")


async def _is(hq: Hq, node: str, state: str) -> bool:
    return await node_state(hq, node) == state


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_node_page_assigns_a_village_and_sets_the_programme(hq: Hq, start_agent, browser,  # noqa: F811
                                                                  screen: Screen) -> None:
    await village_nodes(hq, start_agent)
    # something it played, and something it holds (a daily series it keeps for later)
    status, played = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Họp thôn", "text": "Mời bà con dự họp.", "targets": {"zones": ["thon-1"]}})
    assert status == 201, played
    later = (datetime.now(LOCAL) + timedelta(hours=3)).strftime("%H:%M")
    status, held = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Tiêm phòng", "text": "Nhắc bà con tiêm phòng cho gia cầm.", "targets": {"zones": ["thon-1"]},
        "recurrence": {"kind": "daily", "at": later}})
    assert status == 201, held
    await hq.wait_delivery(played["bulletin"]["id"], "thon1-loa-a", "played", 90)
    await hq.wait_delivery(held["bulletin"]["id"], "thon1-loa-a", "scheduled", 60)
    page = await new_page(browser, hq, screen)
    await login(page, "technician-1")
    await page.goto("/nodes")
    await page.get_by_role("link", name="thon1-loa-a").click()
    await page.wait_for_url("**/nodes/thon1-loa-a")
    # health over time: the reports HQ kept are drawn (at least the one sent at connect)
    await page.locator('#history[data-loaded="24h"]').wait_for()
    disk = page.locator(".chart").nth(2)
    assert int(await disk.get_attribute("data-points")) >= 1
    assert re.search(r"hoạt động [\d,]+ % thời gian", await page.locator("#availability").inner_text())
    await page.get_by_role("button", name="7 ngày").click()
    await page.locator('#history[data-loaded="7d"]').wait_for()
    assert "Kết nối lại" in await page.locator("main").inner_text()  # its online event, in plain words
    assert "Tiêm phòng" in await page.locator("#holds").inner_text()
    assert "Tiêm phòng" not in await page.locator("#played").inner_text()
    done = page.locator("#played li").filter(has_text="Họp thôn")
    assert "Đã phát" in await done.inner_text()

    # assign it to Thôn 2 as well (HQ is the authority)
    await page.get_by_role("checkbox", name="Thôn 2").check()
    await page.get_by_role("button", name="Lưu thôn và vị trí").click()
    await page.locator("#node-msg").filter(has_text="Đã lưu").wait_for()
    assert "Thôn 1, Thôn 2" in await page.locator('#node-head [data-field="villages"]').inner_text()
    _, body = await hq.call("GET", "/api/v1/nodes/thon1-loa-a", role="technician")
    assert body["node"]["zones"] == ["thon-1", "thon-2"]
    _, audit = await hq.call("GET", "/api/v1/audit?limit=20", role="admin")
    assert any(e["user"] == "technician-1" and e["target"] == "/api/v1/nodes/thon1-loa-a" and e["status"] == 200
               for e in audit["audit"])

    # a wrong latitude is refused next to its field, in Vietnamese
    await page.get_by_label("Vĩ độ").fill("210")
    await page.get_by_role("button", name="Lưu thôn và vị trí").click()
    assert "Vĩ độ là một số từ -90 đến 90" in await page.locator('[data-error-for="lat"]').inner_text()
    await page.get_by_label("Vĩ độ").fill("21.0285")

    # programme window for this loudspeaker only: sent, and applied by the node
    await page.get_by_role("button", name="Thêm khung giờ").click()
    row = page.locator(".window-row").last
    await row.locator('[data-w="start"]').fill("05:30")
    await row.locator('[data-w="end"]').fill("06:30")
    await page.get_by_role("button", name="Lưu khung giờ phát").click()
    await page.locator("#settings-msg").filter(has_text="Đã gửi tới 1 loa").wait_for()
    await wait_async(lambda: _applied(hq, "thon1-loa-a"), 30, "the node to apply its programme")
    await page.reload()
    assert "Loa đã áp dụng" in await page.locator('tr[data-setting="programme"]').inner_text()
    assert "05:30–06:30" in await page.locator('tr[data-setting="programme"]').inner_text()
    await shot(page, screen, "22-node")

    # a volume for every loudspeaker of Thôn 2 (now this one and thon2-loa-a): both apply it
    await page.get_by_label("Thay đổi cho").select_option(label="mọi loa của Thôn 2")
    await page.locator("#volume").fill("60")
    assert await page.locator("#volume-out").inner_text() == "60"
    await page.get_by_role("button", name="Lưu âm lượng").click()
    await page.locator("#settings-msg").filter(has_text="Đã gửi tới 2 loa").wait_for()
    for node in ("thon1-loa-a", "thon2-loa-a"):
        await wait_async(lambda node=node: _applied(hq, node, "volume"), 30, f"{node} to apply the volume")
    await page.reload()
    volume = await page.locator('tr[data-setting="volume"]').inner_text()
    assert "60%" in volume and "Thôn 2" in volume and "Loa đã áp dụng" in volume, volume


async def _applied(hq: Hq, node: str, kind: str = "programme") -> bool:
    _, body = await hq.call("GET", "/api/v1/settings", role="technician")
    return any(r["node"] == node and r["kind"] == kind and r["state"] == "applied" for r in body["nodes"])
