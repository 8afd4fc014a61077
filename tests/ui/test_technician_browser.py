"""Done-when of the technician's pages, in Debian's Chromium against a real HQ, Mosquitto and real edge agents.

A node whose agent stops turns "Mất kết nối" on the list and on the map without a reload; the node page
shows its health over time and assigns it to another village (HQ's record changes); its programme window
is set from the page and applied by the node. Desktop and phone width, screenshots of every page.
"""

from __future__ import annotations

import re

import pytest

from tests.hq.fixtures import Hq, wait_async
from tests.ui.browser import SCREENS, Screen, browser, login, new_page, shot  # noqa: F401  (browser: fixture)
from tests.ui.test_broadcaster_browser import nodes_online

pytestmark = pytest.mark.integration
POSITIONS = {"thon1-loa-a": (21.0285, 105.8542), "thon2-loa-a": (21.0321, 105.8611)}


async def village_nodes(hq: Hq, start_agent) -> dict:
    await hq.add_zones("thon-1", "thon-2")
    agents = {"thon1-loa-a": await start_agent("thon1-loa-a", zones=["thon-1"]),
              "thon2-loa-a": await start_agent("thon2-loa-a", zones=["thon-2"])}
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
    agents = await village_nodes(hq, start_agent)
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
    for p in (page, map_page):
        await p.evaluate("window.__sameDocument = true")

    await agents["thon2-loa-a"].stop()  # the agent says goodbye: HQ marks it offline
    await wait_async(lambda: _is(hq, "thon2-loa-a", "offline"), 30, "HQ to see the node offline")
    await page.locator('#node-list tr[data-node="thon2-loa-a"][data-state="offline"]').wait_for(timeout=30_000)
    assert "Mất kết nối" in await row.inner_text()
    assert await page.locator('[data-count="offline"]').first.inner_text() == "1"
    await map_page.locator('#map a.pin[data-node="thon2-loa-a"][data-state="offline"]').wait_for(timeout=30_000)
    assert "bad" in await pin.get_attribute("class")
    assert await page.locator('#node-list tr[data-node="thon1-loa-a"]').get_attribute("data-state") == "online"
    for p in (page, map_page):
        assert await p.evaluate("window.__sameDocument === true")  # updated live, never reloaded
    await shot(page, screen, "20-nodes-offline")
    await shot(map_page, screen, "21-map-offline")


async def _is(hq: Hq, node: str, state: str) -> bool:
    return await node_state(hq, node) == state


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_node_page_assigns_a_village_and_sets_the_programme(hq: Hq, start_agent, browser,  # noqa: F811
                                                                  screen: Screen) -> None:
    await village_nodes(hq, start_agent)
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


async def _applied(hq: Hq, node: str) -> bool:
    _, body = await hq.call("GET", "/api/v1/settings", role="technician")
    return any(r["node"] == node and r["kind"] == "programme" and r["state"] == "applied" for r in body["nodes"])
