"""Done-when of the broadcaster's console, in Debian's Chromium against a real HQ, Mosquitto and simulated nodes.

Each flow runs at desktop width and at phone width (360 px, no sideways scrolling) and saves screenshots
of the pages it crosses under var/screenshots/<screen>/.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest

from hq_server.ui.fmt import TZ
from tests.hq.fixtures import Hq
from tests.ui.browser import (  # noqa: F401  (browser: fixture)
    PAGE_WEIGHT_LIMIT,
    SCREENS,
    Screen,
    browser,
    first_visit_bytes,
    login,
    new_page,
    no_horizontal_scroll,
    shot,
)

pytestmark = pytest.mark.integration


async def nodes_online(hq: Hq, *names: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        _, body = await hq.call("GET", "/api/v1/nodes", role="broadcaster")
        if set(names) <= {n["id"] for n in body["nodes"] if n["state"] == "online"}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"nodes {names} not online")


async def village_fleet(hq: Hq, start_agent) -> None:
    await hq.add_zones("thon-1", "thon-2")  # named "Thôn 1", "Thôn 2" in HQ's registry
    await start_agent("thon1-loa-a", zones=["thon-1"])
    await start_agent("thon1-loa-b", zones=["thon-1"])
    await start_agent("thon2-loa-a", zones=["thon-2"])
    await nodes_online(hq, "thon1-loa-a", "thon1-loa-b", "thon2-loa-a")


async def choose_village(page, typed: str) -> None:
    await page.get_by_label("Tìm thôn").fill(typed)
    await page.get_by_label("Tìm thôn").press("Enter")


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_compose_hear_send_and_watch_it_play(hq: Hq, start_agent, browser, screen: Screen) -> None:  # noqa: F811
    await village_fleet(hq, start_agent)
    page = await new_page(browser, hq, screen)
    await page.goto("/compose")  # logged out: the log-in page, which comes back here afterwards
    await page.wait_for_url("**/login?next=/compose")
    await shot(page, screen, "00-login")
    await login(page, "broadcaster-1")
    await page.wait_for_url("**/compose")
    await page.goto("/")
    await page.get_by_text("Thôn 1").first.wait_for()
    await shot(page, screen, "01-today")

    await page.get_by_role("link", name="Soạn bản tin").first.click()
    await page.wait_for_url("**/compose")
    text = "Mời bà con thôn Một dự họp lúc 7h30 ngày 28/11 tại nhà văn hoá."
    await page.get_by_label("Tiêu đề").fill("Họp thôn")
    await page.get_by_label("Nội dung loa sẽ đọc").fill(text)
    assert re.search(r"\d+ ký tự · đọc khoảng \d+ giây", await page.locator("#text-count").inner_text())
    await choose_village(page, "thon 1")  # without accents: still finds Thôn 1, and only it
    assert await page.get_by_role("checkbox", name=re.compile("^Thôn 1")).is_checked()
    assert not await page.locator('input[name="zones"][value="thon-2"]').is_checked()
    assert await page.locator('input[name="zones"][value="thon-2"]').is_hidden()  # filtered out of the list

    await page.get_by_role("button", name="Xem cách đọc").click()
    await page.locator("#normalised").filter(has_text="bảy giờ ba mươi").wait_for()

    await page.get_by_role("button", name="Nghe thử").click()
    voice = page.locator("#preview-voice")
    await voice.filter(has_text="Giọng máy").wait_for()  # HQ renders with espeak-ng here: warned as robotic
    assert await voice.get_attribute("data-quality") == "robotic"  # the warning follows the quality class
    assert "Giọng đọc: espeak-ng (vi" in await voice.inner_text() and "giọng máy, khó nghe" in await voice.inner_text()
    audio = page.locator("#preview-audio")
    await page.wait_for_function("document.querySelector('#preview-audio').readyState >= 1")
    duration = await audio.evaluate("a => a.duration")
    assert duration > 1.0, duration  # the element received HQ's rendering (decoded by the browser)
    src = await audio.get_attribute("src")
    assert re.fullmatch(r"/audio/[0-9a-f]{64}", src)
    await shot(page, screen, "02-compose")

    await page.get_by_role("button", name="Gửi ngay").click()
    await page.wait_for_url(re.compile(r"/bulletins/[0-9a-f]+$"))
    await page.evaluate("window.__sameDocument = true")  # survives only if the page is never reloaded
    rows = page.locator("#deliveries tbody tr")
    for node in ("thon1-loa-a", "thon1-loa-b"):
        await page.locator(f'tr[data-node="{node}"] [data-state="played"]').filter(has_text="Đã phát").wait_for(
            timeout=60_000)
    assert await rows.count() == 2  # only Thôn 1's loudspeakers
    assert await page.evaluate("window.__sameDocument === true")
    assert "Đã phát trên 2/2 loa" in await page.locator("#summary").inner_text()
    detail = await page.locator('tr[data-node="thon1-loa-a"] .detail').inner_text()
    assert re.search(r"đã phát \d\d:\d\d–\d\d:\d\d", detail)  # per-node proof of play, local time
    await page.locator("#live-status").filter(has_text="Đã xong").wait_for()
    voice_row = page.locator("#b-voice")  # which voice read it, on the bulletin's live page too
    assert await voice_row.get_attribute("data-quality") == "robotic"
    assert "espeak-ng" in await voice_row.inner_text() and "giọng máy" in await voice_row.inner_text()
    assert "đọc bằng giọng máy" in await page.locator("#robotic-warning").inner_text()
    await shot(page, screen, "03-live-delivery")

    await page.get_by_role("link", name="Lịch sử").first.click()
    await page.get_by_role("link", name="Họp thôn").first.wait_for()
    await shot(page, screen, "04-history")


async def _calendar_swapped(page, village: str) -> None:
    """The filter's htmx swap has settled on ``village``: the URL is pushed before the swap settles, so a
    select made on the URL alone may land on the outgoing form and change nothing (seen under load)."""
    await page.wait_for_url(re.compile(f"village={village}"))
    await page.wait_for_function(
        """v => document.querySelector('#cal-village')?.value === v
             && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')""", arg=village)


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_weekly_programme_appears_on_the_calendar(hq: Hq, start_agent, browser, screen: Screen) -> None:  # noqa: F811
    await village_fleet(hq, start_agent)
    page = await new_page(browser, hq, screen)
    await login(page, "broadcaster-1")
    await page.goto("/compose")
    await page.get_by_label("Tiêu đề").fill("Vệ sinh đường làng")
    await page.get_by_label("Nội dung loa sẽ đọc").fill("Sáng chủ nhật, mời bà con ra quân vệ sinh đường làng.")
    await choose_village(page, "Thôn 2")
    await page.get_by_label("Lặp lại (hằng ngày, hằng tuần hoặc hằng tháng)").check()
    await page.get_by_label("Lặp lại", exact=True).select_option("weekly")
    today = datetime.now(TZ).date()
    day_names = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"]
    tomorrow = today + timedelta(days=1)
    await page.get_by_label(day_names[tomorrow.weekday()], exact=True).check()
    await page.locator("#rec-time").fill("06:30")
    await page.locator("#rec-to").fill((today + timedelta(days=21)).isoformat())
    await page.get_by_role("button", name="Lên lịch").click()
    await page.wait_for_url(re.compile(r"/bulletins/[0-9a-f]+$"))
    assert "Hằng tuần vào " + day_names[tomorrow.weekday()] + " lúc 06:30" in await page.locator("main").inner_text()

    await page.get_by_role("link", name="Lịch phát").first.click()
    await page.wait_for_url("**/calendar")
    if tomorrow.weekday() == 0:  # tomorrow is in next week's view
        await page.get_by_role("link", name=re.compile("Tuần sau")).click()
    day = page.locator("section.day").filter(has_text=tomorrow.strftime("%d/%m/%Y"))
    event = day.locator("a.ev").filter(has_text="Vệ sinh đường làng")
    await event.wait_for()
    assert "06:30" in await event.inner_text() and "Thôn 2" in await event.inner_text()
    await page.get_by_label("Thôn", exact=True).select_option(label="Thôn 1")  # filtered by village: not there
    await _calendar_swapped(page, "thon-1")
    assert await page.locator("a.ev").filter(has_text="Vệ sinh đường làng").count() == 0
    await page.get_by_label("Thôn", exact=True).select_option(label="Thôn 2")
    await _calendar_swapped(page, "thon-2")
    await shot(page, screen, "05-calendar")
    await page.locator("a.ev").filter(has_text="Vệ sinh đường làng").first.click()  # open it from the calendar
    await page.get_by_role("button", name="Huỷ bản tin").wait_for()

    # relay (tiếp âm) of a radio stream tomorrow 05:00-05:30 in Thôn 1, found on the calendar too
    await page.get_by_role("link", name="Tiếp âm").first.click()
    await page.get_by_label("Tên").fill("Thời sự VOV")
    await page.get_by_label("Địa chỉ luồng phát").fill("http://127.0.0.1:9/vov1.mp3")
    await choose_village(page, "thôn 1")
    await page.locator("#r-from").fill(tomorrow.isoformat())
    await page.locator("#r-to").fill(tomorrow.isoformat())
    await shot(page, screen, "08-relay")
    await page.get_by_role("button", name="Lên lịch tiếp âm").click()
    await page.wait_for_url("**/calendar")
    if tomorrow.weekday() == 0:
        await page.get_by_role("link", name=re.compile("Tuần sau")).click()
    relay = page.locator("section.day").filter(has_text=tomorrow.strftime("%d/%m/%Y")).locator("a.ev.relay")
    await relay.filter(has_text="Thời sự VOV").wait_for()
    assert "05:00–05:30" in await relay.inner_text() and "Thôn 1" in await relay.inner_text()


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_emergency_needs_confirmation_and_a_second_person(start_hq, start_agent, browser,  # noqa: F811
                                                               screen: Screen) -> None:
    hq = await start_hq(bulletins={"emergency_two_person": True})
    await village_fleet(hq, start_agent)
    page = await new_page(browser, hq, screen)
    await login(page, "broadcaster-1")
    await page.goto("/compose")
    await page.get_by_label("Nội dung loa sẽ đọc").fill("Bão số 5 sắp đổ bộ. Bà con khẩn trương chằng chống nhà cửa.")

    # a misspelled village cannot be chosen: nothing is ticked and the page says what it knows
    await choose_village(page, "Thôn Một Hai")
    msg = page.locator("#village-search-msg")
    assert "Không có thôn nào tên “Thôn Một Hai”" in await msg.inner_text()
    await choose_village(page, "Thon 3")
    assert "Có phải bạn muốn chọn:" in await msg.inner_text() and "Thôn" in await msg.inner_text()
    assert await page.locator('input[name="zones"]:checked').count() == 0
    await page.get_by_role("radio", name=re.compile("^Khẩn cấp")).check()
    await page.get_by_role("button", name="Gửi ngay").click()
    assert await page.locator('[data-error-for="targets"]').inner_text() == "Hãy chọn ít nhất một thôn."
    await no_horizontal_scroll(page)

    await page.get_by_role("radio", name=re.compile("^Tất cả các thôn")).check()
    await page.get_by_role("button", name="Gửi ngay").click()
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    assert "NGAY trên 3 loa" in await dialog.inner_text()
    await shot(page, screen, "06-emergency-confirm")
    await page.get_by_role("button", name="Không, quay lại").click()
    _, body = await hq.call("GET", "/api/v1/bulletins")
    assert body["bulletins"] == []  # going back sent nothing
    await page.get_by_role("button", name="Gửi ngay").click()
    await page.get_by_role("button", name="Đồng ý, phát khẩn cấp").click()
    await page.wait_for_url(re.compile(r"/bulletins/[0-9a-f]+$"))
    assert "Chờ duyệt" in await page.locator("#b-state").inner_text()
    bid = page.url.rsplit("/", 1)[1]

    # the second person sees it in the menu and on the approvals page, approves, and it plays
    second = await new_page(browser, hq, screen)
    await login(second, "admin-1")
    badge = second.locator("nav.main .badge")
    assert await badge.inner_text() == "1"
    await second.get_by_role("link", name=re.compile("Duyệt khẩn cấp")).click()
    await second.locator(f'[data-bulletin="{bid}"]').wait_for()
    await shot(second, screen, "07-approvals")
    second.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await second.get_by_role("button", name="Duyệt và phát").click()
    await second.wait_for_url(f"**/bulletins/{bid}")
    for node in ("thon1-loa-a", "thon1-loa-b", "thon2-loa-a"):
        await page.locator(f'tr[data-node="{node}"] [data-state="played"]').wait_for(timeout=60_000)
    _, body = await hq.call("GET", f"/api/v1/bulletins/{bid}")
    assert body["bulletin"]["priority"] == "emergency" and body["bulletin"]["approved_by"] == "admin-1"


@pytest.mark.parametrize(("user", "path"), [("broadcaster-1", "/compose"), ("admin-1", "/statistics"),
                                             ("police-1", "/cameras")], ids=["compose", "statistics", "cameras"])
async def test_first_visit_is_small(hq: Hq, browser, user: str, path: str) -> None:  # noqa: F811
    """Bytes transferred (headers + encoded bodies) for a first visit, empty cache: the compose page, the heaviest
    page (statistics: charts library and five report calls) and the police post's wall."""
    total = await first_visit_bytes(browser, hq, user, path)
    assert total <= PAGE_WEIGHT_LIMIT, f"{total} bytes > {PAGE_WEIGHT_LIMIT}"
