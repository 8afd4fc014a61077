"""REST API: auth on every route, roles, CSRF, login rate limit, field-level 400s, audit, edit/approve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hq_server.web import AUDIO, DB, LIMITER
from tests.hq.fixtures import PASSWORD

TEXT = "Ủy ban nhân dân xã thông báo: 7h30 sáng mai họp tại hội trường."


def in_s(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_every_protected_route_answers_401_without_credentials(hq):
    checked = 0
    for route in hq.app.router.routes():
        spec = getattr(route, "_loaxa_spec", None)
        if spec is None or spec.html or (spec.perm is None and not spec.authenticated_only):  # pages: tests/ui
            continue
        path = spec.path.replace("{id}", "x1").replace("{sha256}", "0" * 64)
        status, body = await hq.call(spec.method, path, role=None, json={})
        assert status == 401, (spec.method, path, body)
        assert body == {"error": "Cần đăng nhập (authentication required)"}
        checked += 1
    assert checked >= 20
    # a forged or revoked token is no better than none
    status, _ = await hq.call("GET", "/api/v1/bulletins", role=None, headers={"Authorization": "Bearer nope"})
    assert status == 401


async def test_roles_are_enforced(hq):
    body = {"text": TEXT, "targets": {"all": True}}
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="police", json=body)
    assert status == 403 and "police" in resp["error"]
    assert (await hq.call("POST", "/api/v1/bulletins", role="technician", json=body))[0] == 403
    assert (await hq.call("GET", "/api/v1/cameras", role="police"))[0] == 200
    assert (await hq.call("GET", "/api/v1/alerts", role="police"))[0] == 200
    assert (await hq.call("GET", "/api/v1/nodes", role="police"))[0] == 403
    assert (await hq.call("GET", "/api/v1/audit", role="broadcaster"))[0] == 403
    assert (await hq.call("PUT", "/api/v1/nodes/loa-1", role="broadcaster", json={}))[0] == 403
    assert (await hq.call("POST", "/api/v1/users", role="technician", json={}))[0] == 403
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json=body)
    assert status == 201, resp


async def test_bad_input_gives_field_level_errors(hq):
    async def post(body):
        return await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json=body)

    status, resp = await post({"targets": {"all": True}})
    assert status == 400 and set(resp["fields"]) == {"text"}, resp
    status, resp = await post({"text": TEXT, "priority": "urgent", "repeat": 99, "targets": {"nodes": ["Loa 1"]}})
    assert status == 400 and {"priority", "repeat", "targets"} <= set(resp["fields"]), resp
    status, resp = await post({"text": TEXT, "targets": {"all": True}, "expires_at": in_s(-60)})
    assert status == 400 and "expires_at" in resp["fields"]
    status, resp = await post({"text": TEXT, "targets": {"all": True}, "colour": "red"})
    assert status == 400 and "colour" in resp["fields"]
    status, resp = await post({"text": "x" * 6000, "targets": {"all": True}})
    assert status == 400 and "text" in resp["fields"]
    status, resp = await post({"text": TEXT, "targets": {}})
    assert status == 400 and "targets" in resp["fields"]
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in resp["error"]
    status, resp = await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={"lat": 123, "zones": [""]})
    assert status == 400 and {"lat", "zones.0"} <= set(resp["fields"]), resp


async def test_browser_session_needs_csrf_and_logins_are_rate_limited(hq):
    c = hq.client
    for _ in range(5):
        async with c.post("/api/v1/auth/login", json={"username": "admin-1", "password": "wrong"}) as r:
            assert r.status == 401
    async with c.post("/api/v1/auth/login", json={"username": "admin-1", "password": PASSWORD}) as r:
        assert r.status == 429  # even the right password waits out the window
    # forget the failures (as the window passing would)
    await hq.app[LIMITER].clear()
    async with c.post("/api/v1/auth/login", json={"username": "broadcaster-1", "password": PASSWORD}) as r:
        assert r.status == 200
        csrf = (await r.json())["csrf_token"]
        assert "loaxa_session" in r.cookies and r.cookies["loaxa_session"]["httponly"]
    await hq.add_zones("thon-1")
    body = {"text": TEXT, "targets": {"zones": ["thon-1"]}}
    async with c.post("/api/v1/bulletins", json=body) as r:
        assert r.status == 403 and "CSRF" in (await r.json())["error"]
    async with c.post("/api/v1/bulletins", json=body, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 201
    async with c.get("/api/v1/auth/me") as r:
        assert (await r.json())["user"]["role"] == "broadcaster"
    async with c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200
    async with c.get("/api/v1/auth/me") as r:
        assert r.status == 401


async def test_state_changes_are_audited_with_who_and_where(hq):
    assert (await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={}))[0] == 201
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": TEXT, "targets": {"nodes": ["loa-1"]}})
    assert status == 201
    await hq.call("POST", "/api/v1/bulletins", role="police", json={"text": TEXT, "targets": {"all": True}})
    status, audit = await hq.call("GET", "/api/v1/audit")
    entries = audit["audit"]
    created = next(e for e in entries if e["action"] == "Create a bulletin" and e["status"] == 201)
    assert created["user"] == "broadcaster-1" and created["ip"] == "127.0.0.1"
    assert created["detail"]["bulletin"] == resp["bulletin"]["id"]
    denied = next(e for e in entries if e["user"] == "police-1")
    assert denied["status"] == 403
    status, text = await hq.call("GET", "/api/v1/audit?format=csv")
    assert status == 200 and "broadcaster-1" in text


async def test_edit_before_sending_then_delete(hq):
    await hq.add_zones("thon-1")
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": TEXT, "targets": {"zones": ["thon-1"]}, "send_at": in_s(3600)})
    assert status == 201 and resp["bulletin"]["state"] == "scheduled"
    bid, sha = resp["bulletin"]["id"], resp["bulletin"]["audio_sha256"]
    status, resp = await hq.call("PATCH", f"/api/v1/bulletins/{bid}", role="broadcaster",
                                 json={"text": "Lịch họp đổi sang 8h00.", "chime": True})
    assert status == 200, resp
    assert resp["bulletin"]["audio_sha256"] != sha and resp["bulletin"]["chime"] is True  # rendered again
    status, resp = await hq.call("PATCH", f"/api/v1/bulletins/{bid}", role="broadcaster", json={"volume": 101})
    assert status == 400 and "volume" in resp["fields"]
    status, _ = await hq.call("DELETE", f"/api/v1/bulletins/{bid}", role="broadcaster")
    assert status == 200
    assert (await hq.call("GET", f"/api/v1/bulletins/{bid}"))[0] == 404


async def test_emergency_needs_a_second_person(start_hq):
    hq = await start_hq(bulletins={"emergency_two_person": True})
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Khẩn cấp: lũ quét, di chuyển lên vùng cao.", "priority": "emergency", "targets": {"all": True}})
    assert status == 201 and resp["bulletin"]["state"] == "awaiting_approval"
    bid = resp["bulletin"]["id"]
    status, resp = await hq.call("POST", f"/api/v1/bulletins/{bid}/approve", role="broadcaster")
    assert status == 403 and "two-person" in resp["error"]
    status, resp = await hq.call("POST", f"/api/v1/bulletins/{bid}/approve", role="admin")
    assert status == 200 and resp["bulletin"]["approved_by"] == "admin-1"
    assert resp["bulletin"]["state"] in ("scheduled", "sending", "active", "completed")  # sent off the request
    await hq.wait_bulletin(bid, "active", "completed")
    status, _ = await hq.call("PATCH", f"/api/v1/bulletins/{bid}", role="broadcaster", json={"text": "sửa"})
    assert status == 409


async def test_uploaded_audio_is_served_by_hash_to_nodes(hq):
    store = hq.app[AUDIO]
    wav = (await store.render("Thử âm thanh")).audio.sha256
    data = store.find(wav).read_bytes()
    status, resp = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=data,
                                 headers={"Content-Type": "audio/wav"})
    assert status == 201 and resp["sha256"] == wav
    async with hq.client.get(f"/audio/{wav}") as r:  # no credentials: nodes fetch by hash
        assert r.status == 200 and await r.read() == data
    assert (await hq.call("GET", f"/audio/{'0' * 64}", role=None))[0] == 404
    status, resp = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=b"RIFFnope" * 100,
                                 headers={"Content-Type": "audio/wav"})
    assert status == 400 and "file" in resp["fields"]
    status, resp = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "kind": "audio", "audio_sha256": wav, "targets": {"all": True}})
    assert status == 201 and resp["bulletin"]["kind"] == "audio"


async def test_openapi_metrics_and_reports(hq):
    status, spec = await hq.call("GET", "/api/v1/openapi.json", role=None)
    assert status == 200 and spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/v1/bulletins"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("BulletinIn")
    assert "BulletinIn" in spec["components"]["schemas"]
    assert (await hq.call("GET", "/metrics", role=None))[0] == 401
    status, text = await hq.call("GET", "/metrics", role="technician")
    assert status == 200 and "loaxa_hq_nodes_online 0" in text and "# TYPE loaxa_hq_mqtt_connected gauge" in text
    assert "loaxa_hq_inbound_read_pauses_total 0.0" in text and "loaxa_hq_mqtt_connected 1.0" in text
    await hq.add_zones("thon-1")
    await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={"zones": ["thon-1"]})
    status, text = await hq.call("GET", "/api/v1/reports/nodes?format=csv", role="technician")
    assert status == 200 and text.lstrip("\ufeff").startswith("node,zones,state") and "loa-1" in text
    status, resp = await hq.call("GET", "/api/v1/reports/broadcasts?group=week", role="technician")
    assert status == 400 and "group" in resp["fields"]


async def test_create_user_via_api_and_db_has_audit(hq):
    status, resp = await hq.call("POST", "/api/v1/users", json={"username": "ca-xa", "password": "short",
                                                               "role": "sheriff"})
    assert status == 400 and {"password", "role"} <= set(resp["fields"])
    status, resp = await hq.call("POST", "/api/v1/users", json={"username": "ca-xa", "password": PASSWORD,
                                                               "role": "police"})
    assert status == 201
    status, _ = await hq.call("POST", "/api/v1/users", json={"username": "ca-xa", "password": PASSWORD,
                                                            "role": "police"})
    assert status == 409
    assert hq.app[DB] is not None
