"""TLS between nodes and the commune broker: real Mosquitto with a TLS listener on 127.0.0.1.

A node trusting the commune CA connects; a node with the wrong CA, a server certificate that expired
or was issued for another name, or no TLS at all is refused, and the reason the link keeps
(``MqttLink.last_error``) is explained in words a technician can act on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_link.broker_conf import TlsListener
from loaxa_link.credentials import CredentialStore
from loaxa_link.diagnose import explain
from loaxa_link.mosquitto import Mosquitto
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, require_binary, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_dir = tmp_path / "pki"
    make_ca(ca_dir, "xa-test")
    issue_server_cert(ca_dir, ca_dir, ["localhost", "127.0.0.1"])
    return ca_dir


def _tls_broker(data_dir: Path, cert: Path, key: Path) -> Mosquitto:
    require_binary("mosquitto")
    store = CredentialStore(data_dir.parent / f"{data_dir.name}-credentials", COMMUNE)
    return Mosquitto(data_dir, store, tls=TlsListener(port=0, cert=cert, key=key, host="127.0.0.1")).start()


def _login(broker: Mosquitto) -> dict[str, str]:
    user, password = broker.credentials.hq_login()
    return {"username": user, "password": password}


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Iterator[Mosquitto]:
    m = _tls_broker(tmp_path / "broker", pki / "server.crt", pki / "server.key")
    yield m
    m.stop()


async def _attempt(port: int, ca: Path | None, host: str = "127.0.0.1",
                   login: dict[str, str] | None = None) -> MqttLink:
    """Start a link, wait for it to connect or to record a failure; the caller stops it."""
    link = MqttLink(LinkConfig(host=host, port=port, client_id="tls-probe", tls_ca=str(ca) if ca else None,
                               session_expiry_s=60, reconnect_min_s=0.2, reconnect_max_s=1, connect_timeout_s=5,
                               **(login or {})))
    await link.start()
    await wait_until(lambda: link.connected or link.last_error is not None, 20, "connect or a failure")
    return link


async def test_node_trusting_the_commune_ca_connects_and_exchanges(tls_broker: Mosquitto, pki: Path) -> None:
    got: list[bytes] = []
    topic = f"loaxa/v1/{COMMUNE}/t/x"  # HQ's credential may use its commune's topics only
    sub = MqttLink(LinkConfig(port=tls_broker.tls.port, client_id="sub", tls_ca=str(pki / "ca.crt"),
                              subscriptions=[topic], **_login(tls_broker)), on_message=lambda _t, p: got.append(p))
    await sub.start()
    try:
        await sub.wait_ready(15)
        pub = await _attempt(tls_broker.tls.port, pki / "ca.crt", login=_login(tls_broker))
        try:
            assert pub.connected, pub.last_error
            await pub.publish(topic, b"qua TLS")
            await wait_until(lambda: got == [b"qua TLS"], 10, "message over TLS")
        finally:
            await pub.stop()
    finally:
        await sub.stop()


async def test_wrong_ca_is_refused_and_explained(tls_broker: Mosquitto, tmp_path: Path) -> None:
    other = tmp_path / "other-ca"
    make_ca(other, "xa-khac")
    link = await _attempt(tls_broker.tls.port, other / "ca.crt")
    try:
        assert not link.connected
        diagnosis = explain(link.last_error, "127.0.0.1", tls_broker.tls.port)
        assert diagnosis.cause == "tls_unknown_ca", link.last_error
        assert "broker.tls.ca" in diagnosis.message
    finally:
        await link.stop()


async def test_expired_server_certificate_is_refused_and_explained(tmp_path: Path, pki: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert, key = issue_server_cert(pki, tmp_path / "old", ["127.0.0.1"], not_before=now - dt.timedelta(days=400),
                                  not_after=now - dt.timedelta(days=1))
    broker = _tls_broker(tmp_path / "broker", cert, key)
    try:
        link = await _attempt(broker.tls.port, pki / "ca.crt")
        try:
            assert not link.connected
            assert explain(link.last_error, "127.0.0.1", broker.tls.port).cause == "tls_expired", link.last_error
        finally:
            await link.stop()
    finally:
        broker.stop()


async def test_certificate_for_another_name_is_refused(tmp_path: Path, pki: Path) -> None:
    cert, key = issue_server_cert(pki, tmp_path / "named", ["mqtt.xa-khac.vn"])
    broker = _tls_broker(tmp_path / "broker", cert, key)
    try:
        link = await _attempt(broker.tls.port, pki / "ca.crt")
        try:
            assert not link.connected
            diagnosis = explain(link.last_error, "127.0.0.1", broker.tls.port)
            assert diagnosis.cause == "tls_hostname", link.last_error
            assert "127.0.0.1" in diagnosis.message
        finally:
            await link.stop()
    finally:
        broker.stop()


async def test_plain_client_on_the_tls_port_never_connects(tls_broker: Mosquitto) -> None:
    link = await _attempt(tls_broker.tls.port, None)
    try:
        assert not link.connected
        assert explain(link.last_error, "127.0.0.1", tls_broker.tls.port).cause == "tls_expected", link.last_error
    finally:
        await link.stop()


async def test_tls_client_on_the_plain_port_is_told_to_use_the_tls_port(tls_broker: Mosquitto, pki: Path) -> None:
    link = await _attempt(tls_broker.port, pki / "ca.crt")
    try:
        assert not link.connected
        assert explain(link.last_error, "127.0.0.1", tls_broker.port).cause == "reset", link.last_error
    finally:
        await link.stop()


async def test_hq_embedded_broker_serves_nodes_over_tls(tmp_path: Path, pki: Path, hq_keys, make_node_config) -> None:
    """HQ's own Mosquitto with a TLS listener: a real agent trusting the commune CA plays HQ's bulletin."""
    from aiohttp.test_utils import TestClient, TestServer

    from edge_agent.app import EdgeAgent
    from hq_server.app import BROKER_TLS_PORT, create_app
    from hq_server.broker import broker_dir, credential_store
    from hq_server.services.users import create_user
    from hq_server.storage.tables import Node
    from hq_server.web import DB, ORCH
    from loaxa_link.mosquitto import free_port
    from simulators.nodes import SimulatedLogins
    from tests.hq.fixtures import PASSWORD, hq_config, wait_async

    require_binary("espeak-ng")
    port = free_port()
    cfg = hq_config(tmp_path, hq_keys[0], None, None, port, embedded_broker={
        "port": 0, "tls": {"host": "127.0.0.1", "port": 0, "cert": str(pki / "server.crt"),
                           "key": str(pki / "server.key")}})
    app = create_app(cfg)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        async with app[DB].sessions() as s:
            token = await create_user(s, "phat-thanh", PASSWORD, "broadcaster", with_token=True)
        await app[ORCH].wait_ready(15)
        # the node's login is issued by this HQ (its own credential store), as `node-credential add` does
        logins = SimulatedLogins(credential_store(cfg), tmp_path / "hq-node-secrets", broker_dir(cfg))
        login = await asyncio.to_thread(logins.ensure, {"loa-tls": ["thon-1"]})
        node = make_node_config("loa-tls", ["thon-1"], port=app[BROKER_TLS_PORT], broker__host="127.0.0.1",
                                broker__tls={"ca": str(pki / "ca.crt")}, **login["loa-tls"])
        agent = EdgeAgent(node)
        await agent.start()
        try:
            await agent.link.wait_ready(15)

            async def seen_online() -> bool:  # HQ learns of the node from its birth, recorded in a batch
                async with app[DB].sessions() as s:
                    row = await s.get(Node, "loa-tls")
                    return row is not None and row.state == "online"

            await wait_async(seen_online, 30, "HQ recording loa-tls online")
            async with client.post("/api/v1/bulletins", headers={"Authorization": f"Bearer {token}"}, json={
                    "title": "TLS", "text": "Bản tin thử qua kết nối mã hoá.", "targets": {"nodes": ["loa-tls"]}}
                    ) as resp:
                body = await resp.json()
                assert resp.status == 201, body
            bid = body["bulletin"]["id"]

            async def played() -> bool:
                async with client.get(f"/api/v1/bulletins/{bid}/deliveries",
                                      headers={"Authorization": f"Bearer {token}"}) as r:
                    return any(d["state"] == "played" for d in (await r.json())["deliveries"])

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not await played():
                assert loop.time() < deadline, "bulletin never played over TLS"
                await asyncio.sleep(0.1)
        finally:
            await agent.stop()
    finally:
        await client.close()
