"""Accounts: change own password (old one required, other sessions end), deactivate users, revoke API tokens."""

from __future__ import annotations

import json
import re

import aiohttp

from tests.hq.fixtures import PASSWORD

NEW_PASSWORD = "mat-khau-moi-456789"


class Browser:
    """A separate browser: its own cookies, so two sessions of one user can coexist in a test."""

    def __init__(self, hq) -> None:
        self.hq = hq
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str, password: str) -> int:
        async with self.http.post(self.hq.client.make_url("/api/v1/auth/login"),
                                  json={"username": username, "password": password}) as r:
            if r.status == 200:
                self.csrf = (await r.json())["csrf_token"]
            return r.status

    async def call(self, method: str, path: str, **kw) -> tuple[int, dict]:
        async with self.http.request(method, self.hq.client.make_url(path), headers={"X-CSRF-Token": self.csrf},
                                     **kw) as r:
            return r.status, await r.json()


async def _bearer(hq, token: str, path: str = "/api/v1/auth/me") -> int:
    async with hq.client.get(path, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def test_change_own_password_needs_the_old_one_and_ends_other_sessions(hq):
    one, two = Browser(hq), Browser(hq)
    try:
        assert await one.login("broadcaster-1", PASSWORD) == 200
        assert await two.login("broadcaster-1", PASSWORD) == 200
        status, body = await one.call("POST", "/api/v1/auth/password",
                                      json={"old_password": "sai-mat-khau-1", "new_password": NEW_PASSWORD})
        assert status == 400 and set(body["fields"]) == {"old_password"}
        status, body = await one.call("POST", "/api/v1/auth/password",
                                      json={"old_password": PASSWORD, "new_password": "short"})
        assert status == 400 and set(body["fields"]) == {"new_password"}
        status, body = await one.call("POST", "/api/v1/auth/password",
                                      json={"old_password": PASSWORD, "new_password": PASSWORD})
        assert status == 400 and "unchanged" in body["fields"]["new_password"]
        status, body = await one.call("POST", "/api/v1/auth/password", json={"old_password": PASSWORD,
                                                                             "new_password": NEW_PASSWORD})
        assert status == 200 and body["sessions_ended"] == 1, body
        assert (await one.call("GET", "/api/v1/auth/me"))[0] == 200  # the session that changed it stays
        assert (await two.call("GET", "/api/v1/auth/me"))[0] == 401  # the other one is logged out
        assert await two.login("broadcaster-1", PASSWORD) == 401
        assert await two.login("broadcaster-1", NEW_PASSWORD) == 200
        # without the session's CSRF token the change is refused
        async with one.http.post(hq.client.make_url("/api/v1/auth/password"),
                                 json={"old_password": NEW_PASSWORD, "new_password": PASSWORD}) as r:
            assert r.status == 403
    finally:
        await one.http.close()
        await two.http.close()
    _, audit = await hq.call("GET", "/api/v1/audit?limit=20")
    assert NEW_PASSWORD not in json.dumps(audit) and PASSWORD not in json.dumps(audit)
    changes = [e for e in audit["audit"] if e["target"] == "/api/v1/auth/password"]
    assert [e["status"] for e in changes] == [403, 200, 400, 400, 400] and changes[1]["user"] == "broadcaster-1"


async def test_api_tokens_are_listed_and_revoked(hq):
    status, body = await hq.call("POST", "/api/v1/tokens", role="technician", json={"name": "laptop"})
    assert status == 201
    laptop = body["token"]
    _, body = await hq.call("GET", "/api/v1/tokens", role="technician")
    listed = {t["name"]: t for t in body["tokens"]}
    assert set(listed) == {"cli-created", "laptop"} and laptop not in json.dumps(body)
    assert listed["cli-created"]["last_used_at"] is not None  # this very call used it

    tid = listed["laptop"]["id"]
    assert (await hq.call("DELETE", f"/api/v1/tokens/{tid}", role="police"))[0] == 404  # not yours
    assert (await hq.call("GET", f"/api/v1/tokens?user={listed['laptop']['user_id']}", role="police"))[0] == 403
    assert await _bearer(hq, laptop) == 200
    status, body = await hq.call("DELETE", f"/api/v1/tokens/{tid}", role="technician")
    assert status == 200 and body["token"]["revoked"] is True
    assert await _bearer(hq, laptop) == 401
    # an admin may revoke anyone's
    own = listed["cli-created"]["id"]
    assert (await hq.call("DELETE", f"/api/v1/tokens/{own}", role="admin"))[0] == 200
    assert (await hq.call("GET", "/api/v1/auth/me", role="technician"))[0] == 401
    _, audit = await hq.call("GET", "/api/v1/audit?limit=10")
    revokes = [e for e in audit["audit"] if e["target"].startswith("/api/v1/tokens/")]
    assert [(e["user"], e["status"]) for e in revokes] == [("admin-1", 200), ("technician-1", 200), ("police-1", 404)]


async def test_deactivated_user_loses_sessions_tokens_and_login(hq):
    status, body = await hq.call("POST", "/api/v1/users", json={"username": "clerk", "password": PASSWORD,
                                                                 "role": "broadcaster"})
    assert status == 201
    uid = body["user"]["id"]
    browser = Browser(hq)
    try:
        assert await browser.login("clerk", PASSWORD) == 200
        status, body = await browser.call("POST", "/api/v1/tokens", json={"name": "script"})
        assert status == 201
        token = body["token"]
        assert await _bearer(hq, token) == 200

        assert (await hq.call("POST", f"/api/v1/users/{uid}/deactivate", role="police"))[0] == 403
        status, body = await hq.call("POST", f"/api/v1/users/{uid}/deactivate")
        assert status == 200 and body["user"]["active"] is False and body["sessions_ended"] == 1
        assert (await browser.call("GET", "/api/v1/auth/me"))[0] == 401
        assert await _bearer(hq, token) == 401
        assert await browser.login("clerk", PASSWORD) == 401

        _, me = await hq.call("GET", "/api/v1/auth/me")
        status, body = await hq.call("POST", f"/api/v1/users/{me['user']['id']}/deactivate")
        assert status == 409 and "yourself" in body["error"]
        assert (await hq.call("POST", "/api/v1/users/999/deactivate"))[0] == 404

        assert (await hq.call("POST", f"/api/v1/users/{uid}/activate"))[0] == 200
        assert await browser.login("clerk", PASSWORD) == 200
        assert await _bearer(hq, token) == 200  # tokens were never revoked, only refused while inactive
    finally:
        await browser.http.close()
    _, audit = await hq.call("GET", "/api/v1/audit?limit=20")
    acts = [(e["detail"].get("username"), e["detail"].get("active")) for e in audit["audit"]
            if e["target"].endswith("activate") and e["status"] == 200]
    assert acts == [("clerk", True), ("clerk", False)]


async def test_admin_resets_another_users_password_and_their_sessions_end(hq):
    status, body = await hq.call("POST", "/api/v1/users", json={"username": "thu-ky", "password": PASSWORD,
                                                                 "role": "broadcaster"})
    assert status == 201
    uid = body["user"]["id"]
    one, two = Browser(hq), Browser(hq)
    try:
        assert await one.login("thu-ky", PASSWORD) == 200
        assert await two.login("thu-ky", PASSWORD) == 200
        path = f"/api/v1/users/{uid}/password"
        assert (await hq.call("POST", path, role="broadcaster", json={"new_password": NEW_PASSWORD}))[0] == 403
        status, body = await hq.call("POST", path, json={"new_password": "short"})
        assert status == 400 and set(body["fields"]) == {"new_password"}
        _, me = await hq.call("GET", "/api/v1/auth/me")
        status, body = await hq.call("POST", f"/api/v1/users/{me['user']['id']}/password",
                                     json={"new_password": NEW_PASSWORD})
        assert status == 409 and "/api/v1/auth/password" in body["error"]
        assert (await hq.call("POST", "/api/v1/users/999/password", json={"new_password": NEW_PASSWORD}))[0] == 404

        status, body = await hq.call("POST", path, json={"new_password": NEW_PASSWORD})
        assert status == 200 and body["sessions_ended"] == 2, body
        assert (await one.call("GET", "/api/v1/auth/me"))[0] == 401
        assert (await two.call("GET", "/api/v1/auth/me"))[0] == 401
        assert await one.login("thu-ky", PASSWORD) == 401
        assert await one.login("thu-ky", NEW_PASSWORD) == 200
    finally:
        await one.http.close()
        await two.http.close()
    _, audit = await hq.call("GET", "/api/v1/audit?limit=20")
    assert NEW_PASSWORD not in json.dumps(audit)
    resets = [e for e in audit["audit"] if re.fullmatch(r"/api/v1/users/\d+/password", e["target"])]
    assert [(e["user"], e["status"]) for e in resets] == [("admin-1", 200), ("admin-1", 404), ("admin-1", 409),
                                                          ("admin-1", 400), ("broadcaster-1", 403)]
    assert resets[0]["detail"] == {"username": "thu-ky", "sessions_ended": 2}


async def test_admin_changes_a_role_in_force_at_once_but_never_their_own(hq):
    status, body = await hq.call("POST", "/api/v1/users", json={"username": "clerk", "password": PASSWORD,
                                                                 "role": "broadcaster"})
    assert status == 201
    uid = body["user"]["id"]
    browser = Browser(hq)
    try:
        assert await browser.login("clerk", PASSWORD) == 200
        assert (await browser.call("GET", "/api/v1/cameras"))[0] == 403
        assert (await hq.call("PUT", f"/api/v1/users/{uid}/role", role="police", json={"role": "admin"}))[0] == 403
        status, body = await hq.call("PUT", f"/api/v1/users/{uid}/role", json={"role": "chief"})
        assert status == 400 and "role" in body["fields"]
        status, body = await hq.call("PUT", f"/api/v1/users/{uid}/role", json={"role": "police"})
        assert status == 200 and body["user"]["role"] == "police" and body["previous"] == "broadcaster"
        # the same session, at its next request: the police post's rights, no longer the broadcaster's
        assert (await browser.call("GET", "/api/v1/cameras"))[0] == 200
        status, _ = await browser.call("POST", "/api/v1/bulletins", json={"text": "x", "targets": {"all": True}})
        assert status == 403

        _, me = await hq.call("GET", "/api/v1/auth/me")
        status, body = await hq.call("PUT", f"/api/v1/users/{me['user']['id']}/role", json={"role": "police"})
        assert status == 409 and "own role" in body["error"]
        assert (await hq.call("PUT", "/api/v1/users/999/role", json={"role": "police"}))[0] == 404
    finally:
        await browser.http.close()
    _, audit = await hq.call("GET", "/api/v1/audit?limit=20")
    changed = [e["detail"] for e in audit["audit"] if e["target"].endswith("/role") and e["status"] == 200]
    assert changed == [{"username": "clerk", "role": "police", "previous": "broadcaster"}]
