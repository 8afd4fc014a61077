"""Done-when of the administrator's pages, in Debian's Chromium against a real HQ (and real nodes for the figures).

An admin creates a user, changes their role and finds the actions in the audit log (search, filters, CSV of
what is shown), resets a password and deactivates the account, creates and revokes an API token; the
statistics page draws charts from the report API and its CSV export equals the API; settings are validated
field by field and take effect.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.hq.fixtures import Hq, wait_async
from tests.ui.browser import SCREENS, Screen, browser, login, new_page, shot  # noqa: F401  (browser: fixture)
from tests.ui.test_broadcaster_browser import nodes_online

pytestmark = pytest.mark.integration


async def downloaded(page, link) -> str:
    async with page.expect_download() as info:
        await link.click()
    path = await (await info.value).path()
    return Path(path).read_text("utf-8-sig")


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_users_audit_and_tokens(hq: Hq, browser, screen: Screen) -> None:  # noqa: F811
    page = await new_page(browser, hq, screen)
    page.on("dialog", lambda d: d.accept())  # the "deactivate?" / "revoke?" confirmations
    await login(page, "admin-1")
    await page.goto("/users")
    form = page.locator("#user-form")
    await form.get_by_label("Tên đăng nhập").fill("x")
    await form.get_by_role("button", name="Tạo tài khoản").click()
    assert "2 đến 64" in await form.locator('[data-error-for="username"]').inner_text()
    await form.get_by_label("Tên đăng nhập").fill("can-bo-moi")
    await form.get_by_label("Họ và tên").fill("Nguyễn Thị Mới")
    await form.get_by_label("Vai trò").select_option(label="Cán bộ truyền thanh")
    await form.get_by_role("button", name="Tạo mật khẩu ngẫu nhiên").click()
    assert len(await form.get_by_label("Mật khẩu (ít nhất 10 ký tự)").input_value()) >= 10
    await form.get_by_role("button", name="Tạo tài khoản").click()
    await page.locator("#users-msg").filter(has_text="Đã tạo tài khoản can-bo-moi").wait_for()
    row = page.locator('tr[data-user="can-bo-moi"]')
    assert "Nguyễn Thị Mới" in await row.inner_text() and "Đang dùng" in await row.inner_text()
    await shot(page, screen, "40-users")

    # the person's job changes: a new role, confirmed, in force at once (HQ's record says so)
    await row.get_by_label("Vai trò của can-bo-moi").select_option(label="Kỹ thuật viên")
    await page.locator("#users-msg").filter(has_text="Đã đổi vai trò của can-bo-moi thành: Kỹ thuật viên").wait_for()
    assert await page.locator('tr[data-user="can-bo-moi"] select').input_value() == "technician"
    _, users = await hq.call("GET", "/api/v1/users", role="admin")
    assert {u["username"]: u["role"] for u in users["users"]}["can-bo-moi"] == "technician"
    assert await page.locator('tr[data-user="admin-1"] select').count() == 0  # never your own role

    await row.get_by_role("button", name="Đặt lại mật khẩu").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill("ngan")
    await dialog.get_by_role("button", name="Đặt mật khẩu").click()
    assert "Ít nhất 10 ký tự" in await dialog.locator('[data-error-for="new_password"]').inner_text()
    await dialog.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill("mat-khau-moi-0123")
    await dialog.get_by_role("button", name="Đặt mật khẩu").click()
    await page.locator("#users-msg").filter(has_text="Đã đổi mật khẩu của can-bo-moi").wait_for()
    await row.get_by_role("button", name="Khoá").click()
    await page.locator('tr[data-user="can-bo-moi"]').filter(has_text="Đã khoá").wait_for()
    async with hq.client.post("/api/v1/auth/login", json={"username": "can-bo-moi",
                                                          "password": "mat-khau-moi-0123"}) as resp:
        assert resp.status == 401  # deactivated: cannot log in

    # the audit log: search finds the creation, with who did it; the CSV is what the page shows
    await page.get_by_role("link", name="Nhật ký").first.click()
    await page.get_by_label("Tìm").fill("can-bo-moi")
    await page.get_by_role("button", name="Xem").click()
    await page.wait_for_url(re.compile(r"q=can-bo-moi"))
    created = page.locator("#audit-list tbody tr").filter(has_text="Tạo tài khoản")
    await created.first.wait_for()
    assert "admin-1" in await created.first.inner_text() and "201" in await created.first.inner_text()
    assert await page.locator("#audit-list tbody tr").count() >= 4  # created, role changed, password reset, deactivated
    assert await page.locator("#audit-list tbody tr").filter(has_text="Đổi vai trò").count() == 1
    await shot(page, screen, "41-audit")
    text = await downloaded(page, page.locator("#audit-csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == await page.locator("#audit-list tbody tr").count()
    assert any(r["action"] == "Create a user" and r["user"] == "admin-1" and "can-bo-moi" in r["detail"]
               for r in rows)

    # the filters: who and what result; a refused attempt is there, and not under "done"
    status, _ = await hq.call("POST", "/api/v1/users", role="police", json={
        "username": "ke-gian", "password": "mat-khau-ke-gian-1", "role": "admin"})
    assert status == 403
    await page.goto("/audit")
    await page.get_by_label("Người dùng").select_option("police-1")
    await page.get_by_label("Kết quả").select_option("refused")
    await page.get_by_role("button", name="Xem").click()
    await page.wait_for_url(re.compile(r"outcome=refused"))
    refused = page.locator("#audit-list tbody tr[data-audit]")
    assert await refused.count() >= 1
    for text in await refused.all_inner_texts():
        assert "police-1" in text and "403" in text and "admin-1" not in text, text
    assert "Tạo tài khoản" in await refused.first.inner_text()  # the attempt, in words
    await page.get_by_label("Kết quả").select_option("ok")
    await page.get_by_role("button", name="Xem").click()
    await page.wait_for_url(re.compile(r"outcome=ok"))
    codes = await page.locator('#audit-list tbody td[data-label="Kết quả"]').all_inner_texts()
    assert all(int(c) < 400 for c in codes), codes  # the refused attempt is not among them
    await page.goto("/audit?user=admin-1&from=2099-01-01")  # a period with nothing in it
    assert await page.locator("#audit-list tbody tr[data-audit]").count() == 0

    # API tokens: shown once, listed, revoked
    await page.goto("/tokens")
    await page.get_by_label("Dùng để làm gì").fill("Báo cáo lên huyện")
    await page.get_by_role("button", name="Tạo token").click()
    await page.locator("#new-token").filter(has_text="chỉ hiện một lần").wait_for()
    token = (await page.locator("#token-value").inner_text()).strip()
    assert len(token) > 30
    status, _ = await hq.call("GET", "/api/v1/auth/me", role=None, headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    await page.reload()
    mine = page.locator('[data-tokens-of="admin-1"] tr').filter(has_text="Báo cáo lên huyện")
    await shot(page, screen, "42-tokens")
    await mine.get_by_role("button", name="Thu hồi").click()
    await page.locator('[data-tokens-of="admin-1"] tr').filter(has_text="Báo cáo lên huyện").filter(
        has_text="Đã thu hồi").wait_for()
    status, _ = await hq.call("GET", "/api/v1/auth/me", role=None, headers={"Authorization": f"Bearer {token}"})
    assert status == 401


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_statistics_and_settings(hq: Hq, start_agent, browser, screen: Screen) -> None:  # noqa: F811
    await hq.add_zones("thon-1")
    agents = {node: await start_agent(node, zones=["thon-1"]) for node in ("thon1-loa-a", "thon1-loa-b")}
    await nodes_online(hq, "thon1-loa-a", "thon1-loa-b")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Họp thôn", "text": "Mời bà con dự họp.", "targets": {"zones": ["thon-1"]}})
    assert status == 201, body
    for node in ("thon1-loa-a", "thon1-loa-b"):
        await hq.wait_delivery(body["bulletin"]["id"], node, "played", 90)

    await agents["thon1-loa-b"].stop()  # a disconnect the availability figures must show

    async def offline() -> bool:
        _, body = await hq.call("GET", "/api/v1/nodes/thon1-loa-b", role="admin")
        return body["node"]["state"] == "offline"

    await wait_async(offline, 30, "HQ to see thon1-loa-b offline")
    page = await new_page(browser, hq, screen)
    await login(page, "admin-1")
    await page.goto("/statistics")
    day = page.locator('.stats-block[data-group="day"]')
    await page.locator('.stats-block[data-group="day"][data-rows]').wait_for()
    await page.locator('.stats-block[data-group="nodes"][data-rows]').wait_for()
    assert await day.locator(".uplot canvas").count() >= 1  # a chart, drawn from the API's figures
    assert int(await day.locator(".chart").get_attribute("data-points")) >= 1
    assert "Thôn 1" in await page.locator('.stats-block[data-group="zone"]').inner_text()
    assert "Họp thôn" in await page.locator('.stats-block[data-group="bulletin"]').inner_text()
    await shot(page, screen, "43-statistics")
    for group in ("day", "zone", "node", "bulletin", "nodes"):  # every CSV equals the API's JSON
        block = page.locator(f'.stats-block[data-group="{group}"]')
        link = block.locator("[data-csv]")
        text = await downloaded(page, link)
        _, api = await hq.call("GET", (await link.get_attribute("href")).replace("&format=csv", ""), role="admin")
        api_rows = api.get("rows", api.get("nodes"))
        csv_rows = list(csv.DictReader(io.StringIO(text)))
        assert len(csv_rows) == len(api_rows) >= 1, group
        for got, want in zip(csv_rows, api_rows, strict=True):
            assert got == {k: "" if v is None else str(v) for k, v in want.items()}, group
    availability = {r["node"]: r for r in csv.DictReader(io.StringIO(await downloaded(
        page, page.locator('.stats-block[data-group="nodes"] [data-csv]'))))}
    gone, up = availability["thon1-loa-b"], availability["thon1-loa-a"]
    assert int(gone["disconnects"]) == 1 and gone["last_disconnect"] and float(gone["uptime_percent"]) < 100, gone
    assert int(up["disconnects"]) == 0 and not up["last_disconnect"], up
    assert "thon1-loa-b" in await page.locator('.stats-block[data-group="nodes"]').inner_text()
    plays = next(csv.DictReader(io.StringIO(await downloaded(page, day.locator("[data-csv]")))))
    assert int(plays["plays"]) == 2 and int(plays["seconds_played"]) > 0

    # settings: refused field by field, then applied
    await page.goto("/settings")
    hook = page.locator("#webhook-form")
    await hook.get_by_label("Địa chỉ web (https://…)").fill("ftp://canh-bao")
    await hook.get_by_role("button", name="Lưu địa chỉ").click()
    await hook.locator('[data-error-for="url"]').filter(has_text="http").wait_for()
    await hook.get_by_label("Địa chỉ web (https://…)").fill("http://127.0.0.1:9/canh-bao")
    await hook.get_by_role("button", name="Lưu địa chỉ").click()
    await hook.locator(".msg").filter(has_text="Đã lưu").wait_for()
    assert hq.orch.alerter.webhook_url == "http://127.0.0.1:9/canh-bao"  # in force at once
    voices = page.locator("#engines-form")
    await voices.get_by_role("checkbox", name="dùng espeak-ng").uncheck()
    for box in await voices.get_by_role("checkbox").all():
        await box.uncheck()
    await voices.get_by_role("button", name="Lưu thứ tự").click()
    await voices.locator('[data-error-for="engines"]').filter(has_text="ít nhất một giọng").wait_for()
    await voices.get_by_role("checkbox", name="dùng espeak-ng").check()
    await voices.get_by_role("button", name="Lưu thứ tự").click()
    await voices.locator(".msg").filter(has_text="Đã lưu").wait_for()
    _, current = await hq.call("GET", "/api/v1/hq-settings", role="admin")
    assert current["tts_engines"]["engines"] == ["espeak"] and current["tts_engines"]["source"] == "ui"
    prog = page.locator("#programme-form")
    await prog.get_by_role("button", name="Thêm khung giờ").click()
    row = prog.locator(".window-row").last
    await row.locator('[data-w="start"]').fill("06:00")
    await row.locator('[data-w="end"]').fill("06:00")
    await prog.get_by_role("button", name="Lưu khung giờ mặc định").click()
    await prog.locator('[data-error-for="windows"]').filter(has_text="khung giờ rỗng").wait_for()  # refused
    await row.locator('[data-w="end"]').fill("07:00")
    await prog.get_by_role("button", name="Lưu khung giờ mặc định").click()
    await prog.locator(".msg").filter(has_text="Đã gửi tới 2 loa").wait_for()
    await shot(page, screen, "44-settings")
    _, settings = await hq.call("GET", "/api/v1/settings", role="admin")
    assert any(d["scope"] == "all" and d["kind"] == "programme" for d in settings["desired"])
