"""Browser helpers for the web UI tests: Debian's Chromium driven by Playwright (never a downloaded browser).

Screenshots of every main page go to ``var/screenshots/`` (desktop and phone), with the measured page
weight in ``var/screenshots/page-weight.json``; CI keeps the folder as an artefact of the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.hq.fixtures import PASSWORD, Hq

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO / "var" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               # a fake microphone (a beep) so recording in the browser can be tested without a sound card
               "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    mobile: bool


DESKTOP = Screen("desktop", 1280, 900, False)
PHONE = Screen("phone", 360, 740, True)
SCREENS = (DESKTOP, PHONE)


async def _launch(args: list[str]) -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed; run .ci/run or apt-get install chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # Chromium's start takes seconds on a loaded machine: Playwright's 30 s default failed set-ups
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args, timeout=120_000)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in _launch(LAUNCH_ARGS):
        yield b


def speech_wav(path: Path, text: str) -> Path:
    """A WAV of Vietnamese speech made by espeak-ng (22 050 Hz, 16-bit mono): a voice for the fake microphone."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; run .ci/run or apt-get install espeak-ng")
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(path), text], check=True, capture_output=True, timeout=30)
    return path


@pytest.fixture
async def voice_browser(tmp_path: Path) -> AsyncIterator[Any]:
    """Chromium whose fake microphone speaks a Vietnamese sentence (espeak-ng) instead of beeping."""
    wav = speech_wav(tmp_path / "mic.wav", "Mời bà con thôn Một đến nhà văn hoá họp lúc bảy giờ tối nay.")
    async for b in _launch([*LAUNCH_ARGS, f"--use-file-for-fake-audio-capture={wav}"]):
        yield b


async def new_page(browser: Any, hq: Hq, screen: Screen) -> Any:
    context = await browser.new_context(base_url=str(hq.client.make_url("/")).rstrip("/"),
                                        viewport={"width": screen.width, "height": screen.height},
                                        is_mobile=screen.mobile, has_touch=screen.mobile, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(30_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.js_errors = errors  # checked by shot(): a script error on any page fails the test
    return page


async def login(page: Any, username: str) -> None:
    if "/login" not in page.url:
        await page.goto("/login")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.wait_for_url(lambda url: "/login" not in url)


async def no_horizontal_scroll(page: Any) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url}: page is {widths[0]} px wide in a {widths[1]} px window"


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button, img, a[href]')]
  .filter((el) => {
    if (el.type === 'hidden' || el.closest('template') || !el.getClientRects().length) return false;
    if (el.tagName === 'IMG') return !el.hasAttribute('alt');
    const labelled = el.getAttribute('aria-labelledby');
    const name = [...(el.labels || [])].map((l) => l.textContent).join('') || el.getAttribute('aria-label') ||
        (labelled ? document.getElementById(labelled)?.textContent : '') || el.title ||
        (['BUTTON', 'A'].includes(el.tagName.toUpperCase()) ? el.textContent : '') ||
        (el.tagName === 'INPUT' ? el.value : '');
    return !(name || '').trim();
}).map((el) => el.outerHTML.slice(0, 160))"""


async def unnamed_controls(page: Any) -> list[str]:
    """Visible fields, buttons and links a screen reader could not name, and pictures without ``alt``."""
    return await page.evaluate(UNNAMED_CONTROLS)


async def shot(page: Any, screen: Screen, name: str) -> Path:
    """Full-page screenshot ``var/screenshots/<screen>/<name>.png``; also checks there is no sideways scroll and
    that every visible field, button, link and picture has a name a screen reader can say."""
    await no_horizontal_scroll(page)
    unnamed = await unnamed_controls(page)
    assert not unnamed, f"{page.url}: controls without an accessible name: {unnamed}"
    assert not page.js_errors, f"JavaScript errors on {page.url}: {page.js_errors}"
    path = SCREENSHOTS / screen.name / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    return path


def record_figure(key: str, value: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "page-weight.json"
    data = json.loads(path.read_text("utf-8")) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")


PAGE_WEIGHT_LIMIT = 200 * 1024


async def first_visit_bytes(browser: Any, hq: Hq, user: str, path: str, ready: str | None = None) -> int:
    """Bytes transferred (headers + encoded bodies) by a first visit to ``path`` at phone width with an empty cache,
    fonts included; recorded in ``page-weight.json`` with each file's size. ``ready``: a selector that says the
    page's own fetches are done (pages with an event stream never reach "network idle")."""
    page = await new_page(browser, hq, PHONE)
    await login(page, user)
    context = await browser.new_context(base_url=str(hq.client.make_url("/")).rstrip("/"),
                                        storage_state=await page.context.storage_state(),
                                        viewport={"width": PHONE.width, "height": PHONE.height})
    fresh = await context.new_page()
    requests: list[Any] = []
    fresh.on("requestfinished", lambda r: requests.append(r))
    streams = ("/cameras", "/nodes", "/map", "/alerts")
    await fresh.goto(path, wait_until="load" if path.startswith(streams) else "networkidle")
    if ready:
        await fresh.locator(ready).wait_for()
    await fresh.evaluate("document.fonts.ready")
    sizes = [(r.url, await r.sizes()) for r in requests]
    total = sum(s["responseBodySize"] + s["responseHeadersSize"] + s["requestHeadersSize"] for _, s in sizes)
    name = path.strip("/").replace("/", "_")
    record_figure(f"{name}_first_visit_bytes", total)
    record_figure(f"{name}_first_visit_files", {u.split("?")[0].rsplit("/", 1)[-1]: s["responseBodySize"]
                                                for u, s in sizes})
    print(f"first visit to {path}: {total} bytes in {len(sizes)} requests")
    assert any(u.endswith(".woff2") for u, _ in sizes)  # the font is part of the weight
    await context.close()
    await page.context.close()
    return total
