"""Provisioning through HQ's API with its embedded TLS broker: codes, one-time redemption, limits, revocation.

The end-to-end path with the system broker and real processes is tests/integration/test_deployment.py;
here the API's answers: who may ask, what a second request gets, what a guesser gets, and that a
revoked login is cut at the broker and shown offline at HQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hq_server.app import BROKER_TLS_PORT, create_app
from hq_server.services.users import create_user
from hq_server.web import CONFIG, DB, ORCH
from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_contract.enrolment import Bundle, parse_code
from loaxa_link.diagnose import explain
from loaxa_link.mosquitto import free_port
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import wait_until
from tests.hq.fixtures import PASSWORD, hq_config

pytestmark = pytest.mark.integration


@pytest.fixture
async def hq(tmp_path: Path, hq_keys) -> AsyncIterator[tuple[TestClient, Any, dict[str, str]]]:
    pki = tmp_path / "hq" / "tls"
    make_ca(pki, "xa-test")
    issue_server_cert(pki, pki, ["127.0.0.1"])
    port = free_port()
    cfg = hq_config(tmp_path, hq_keys[0], None, None, port, embedded_broker={
        "port": 0, "tls": {"host": "127.0.0.1", "port": 0, "cert": str(pki / "server.crt"),
                           "key": str(pki / "server.key")}})
    app = create_app(cfg)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    tokens = {}
    async with app[DB].sessions() as s:
        for role in ("technician", "broadcaster"):
            tokens[role] = await create_user(s, f"{role}-1", PASSWORD, role, with_token=True) or ""
    await app[ORCH].wait_ready(15)
    for name in ("Thôn 1",):
        status, body = await _call(client, "POST", "/api/v1/zones", tokens["technician"], json={"name": name})
        assert status == 201, body
    yield client, app, tokens
    await client.close()


async def _call(client: TestClient, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.request(method, path, headers=headers, **kw) as resp:
        return resp.status, await resp.json() if resp.content_type == "application/json" else await resp.text()


async def test_code_redeemed_once_then_login_revoked(hq) -> None:
    client, app, tokens = hq
    status, body = await _call(client, "POST", "/api/v1/nodes/loa-9/enrolment", tokens["broadcaster"],
                               json={"zones": ["thon-1"]})
    assert status == 403  # broadcasters do not provision nodes
    status, body = await _call(client, "POST", "/api/v1/nodes/loa-9/enrolment", tokens["technician"],
                               json={"zones": ["Thôn 1"], "kind": "mixed"})  # by name, as the UI shows it
    assert status == 201, body
    secret, pin = parse_code(body["code"])
    assert pin is not None and body["broker_applied"] is True
    again, dup = await _call(client, "POST", "/api/v1/nodes/loa-9/enrolment", tokens["technician"],
                             json={"zones": ["thon-1"]})
    assert again == 409 and "replace" in dup["fields"]

    status, ca = await _call(client, "GET", "/api/v1/enrol/ca")
    assert status == 200 and "BEGIN CERTIFICATE" in ca
    status, payload = await _call(client, "POST", "/api/v1/enrol", json={"code": body["code"]})
    assert status == 200, payload
    bundle = Bundle.from_json(payload)
    assert bundle.node == "loa-9" and b"kind: mixed" in bundle.files["node.yaml"]
    status, _ = await _call(client, "POST", "/api/v1/enrol", json={"code": secret})
    assert status == 404  # used

    # the issued login works on the TLS listener, until it is revoked
    password = bundle.files["mqtt-password"].decode().strip()
    tls_port = app[BROKER_TLS_PORT]
    cfg = app[CONFIG]
    link = MqttLink(LinkConfig(host="127.0.0.1", port=tls_port, client_id="loa-9-probe", username="loa-9",
                               password=password, tls_ca=str(cfg.data_dir / "tls" / "ca.crt"), session_expiry_s=60,
                               reconnect_min_s=0.2, reconnect_max_s=1))
    await link.start()
    try:
        await link.wait_connected(20)
        status, body = await _call(client, "DELETE", "/api/v1/nodes/loa-9/credential", tokens["technician"])
        assert status == 200 and body["broker_applied"] is True, body
        await wait_until(lambda: not link.connected, 10, "revoked login dropped")
        await wait_until(lambda: link.last_error is not None, 20, "refused after revocation")
        assert explain(link.last_error, "127.0.0.1", tls_port).cause == "refused_credentials"
    finally:
        await link.stop()
    status, _ = await _call(client, "DELETE", "/api/v1/nodes/loa-9/credential", tokens["technician"])
    assert status == 404


async def test_wrong_codes_are_limited_per_address(hq) -> None:
    client, _app, _tokens = hq
    for _ in range(10):
        status, _ = await _call(client, "POST", "/api/v1/enrol", json={"code": "0000-0000"})
        assert status == 404
    status, _ = await _call(client, "POST", "/api/v1/enrol", json={"code": "0000-0000"})
    assert status == 429
    status, _ = await _call(client, "POST", "/api/v1/enrol", json={"code": "not a code at all!"})
    assert status == 429  # still limited, whatever is sent


async def test_malformed_requests_are_4xx(hq) -> None:
    client, _app, tokens = hq
    for body in ({"code": 5}, {"code": "x" * 100}, {}, {"code": "K7QM", "extra": 1}):
        status, _ = await _call(client, "POST", "/api/v1/enrol", json=body)
        assert 400 <= status < 500
    status, _ = await _call(client, "POST", "/api/v1/nodes/Bad Id/enrolment", tokens["technician"], json={})
    assert 400 <= status < 500
    status, body = await _call(client, "POST", "/api/v1/nodes/loa-1/enrolment", tokens["technician"],
                               json={"zones": ["thon-l"]})
    assert status == 400 and "thon-1" in body["fields"]["zones.0"]  # "did you mean" from the zone registry


async def test_revoked_node_shows_offline(hq, tmp_path: Path) -> None:
    client, app, tokens = hq
    status, body = await _call(client, "POST", "/api/v1/nodes/loa-7/enrolment", tokens["technician"],
                               json={"zones": ["thon-1"]})
    assert status == 201
    _, payload = await _call(client, "POST", "/api/v1/enrol", json={"code": body["code"]})
    bundle = Bundle.from_json(payload)
    from edge_agent.app import EdgeAgent
    from simulators.nodes import simulated_node_config

    cfg = app[CONFIG]
    (tmp_path / "pw").write_bytes(bundle.files["mqtt-password"])
    node = simulated_node_config(tmp_path, node_id="loa-7", commune=cfg.commune, zones=["thon-1"],
                                 port=app[BROKER_TLS_PORT], hq_public_key=cfg.key_path.with_suffix(".pub"),
                                 broker__host="127.0.0.1", broker__username="loa-7",
                                 broker__password_file=str(tmp_path / "pw"),
                                 broker__tls={"ca": str(cfg.data_dir / "tls" / "ca.crt")})
    agent = EdgeAgent(node)
    await agent.start()
    try:
        await agent.link.wait_ready(20)

        async def state() -> str:
            _, nodes = await _call(client, "GET", "/api/v1/nodes", tokens["technician"])
            return {n["id"]: n["state"] for n in nodes["nodes"]}.get("loa-7", "")

        for _ in range(200):
            if await state() == "online":
                break
            await asyncio.sleep(0.1)
        assert await state() == "online"
        status, _ = await _call(client, "DELETE", "/api/v1/nodes/loa-7/credential", tokens["technician"])
        assert status == 200
        assert await state() == "offline"  # recorded at once: the broker sends no last will for a revoked login
    finally:
        await agent.stop()
