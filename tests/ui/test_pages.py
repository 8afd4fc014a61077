"""Every page renders for its roles (Vietnamese by default, English by cookie), with the same session and
CSRF rules as the API; logged-out visitors are sent to the log-in page; static files are cache-busted."""

from __future__ import annotations

import re

import pytest

from tests.hq.fixtures import PASSWORD, Hq

PAGES = ("/", "/compose", "/relay", "/calendar", "/history", "/approvals")


async def login(hq: Hq, username: str) -> str:
    """Log in like the browser does; returns the CSRF token (cookies stay in the test client)."""
    async with hq.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["csrf_token"]


async def get(hq: Hq, path: str, **kw) -> tuple[int, str, dict]:
    async with hq.client.get(path, allow_redirects=False, **kw) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_logged_out_pages_redirect_to_login(hq: Hq) -> None:
    for path in PAGES:
        status, _, headers = await get(hq, path)
        assert status == 302 and headers["Location"].startswith("/login?next="), (path, status)
    status, body, _ = await get(hq, "/login")
    assert status == 200 and 'lang="vi"' in body and "Đăng nhập" in body


@pytest.mark.parametrize("path", PAGES)
async def test_broadcaster_pages_render_in_vietnamese(hq: Hq, path: str) -> None:
    await login(hq, "broadcaster-1")
    status, body, headers = await get(hq, path)
    assert status == 200, body[:2000]
    assert 'lang="vi"' in body and headers["Cache-Control"] == "no-store"
    assert "Soạn bản tin" in body  # the menu, in Vietnamese


async def test_english_toggle_is_remembered(hq: Hq) -> None:
    await login(hq, "broadcaster-1")
    status, _, headers = await get(hq, "/lang/en?next=/compose")
    assert status == 302 and headers["Location"] == "/compose"
    status, body, _ = await get(hq, "/compose")
    assert 'lang="en"' in body and "New bulletin" in body
    status, _, headers = await get(hq, "/lang/vi?next=//evil.example")
    assert headers["Location"] == "/"  # no open redirect


async def test_police_cannot_open_broadcast_pages(hq: Hq) -> None:
    await login(hq, "police-1")
    for path in ("/compose", "/history", "/calendar"):
        status, body, _ = await get(hq, path)
        assert status == 403 and "Không được phép" in body, path
    status, _, headers = await get(hq, "/")
    assert status == 302 and headers["Location"] == "/cameras"  # the police post starts on its cameras
    status, body, _ = await get(hq, "/cameras")
    assert status == 200 and "Soạn bản tin" not in body and "Camera" in body


async def test_static_files_are_hashed_and_immutable(hq: Hq) -> None:
    _, body, _ = await get(hq, "/login")
    url = re.search(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', body).group(1)
    status, css, headers = await get(hq, url, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and "immutable" in headers["Cache-Control"] and headers["Content-Encoding"] == "gzip"
    assert "Be Vietnam Pro" in css
    status, _, headers = await get(hq, "/static/app.css?v=old")
    assert status == 200 and "immutable" not in headers["Cache-Control"]
    status, _, _ = await get(hq, "/static/../web.py")
    assert status == 404
