"""Adding a node from the web UI, against a real HQ with its embedded TLS broker: the technician gets the node's
one-time enrolment code and the commands to type, the "node" redeems it (as edge-agent enroll does) and starts a
real edge agent with the issued login, and the page says it is online without a reload."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_agent.app import EdgeAgent
from edge_agent.config import load_config
from edge_agent.enroll import _localise, _write
from hq_server.app import create_app
from hq_server.services.users import create_user
from hq_server.web import DB, ORCH
from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_contract.enrolment import Bundle
from loaxa_link.mosquitto import free_port
from tests.conftest import READY_S
from tests.hq.fixtures import PASSWORD, ROLES, Hq, hq_config
from tests.integration.test_deployment import hardware_edges
from tests.ui.browser import SCREENS, Screen, browser, login, new_page, shot  # noqa: F401  (browser: fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
async def prov_hq(tmp_path: Path, hq_keys) -> AsyncIterator[Hq]:
    """HQ as deployed: its own Mosquitto with a TLS listener for nodes and the commune CA (hq-server make-ca)."""
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
    hq = Hq(client, app, {})
    async with app[DB].sessions() as s:
        for role in ROLES:
            hq.tokens[role] = await create_user(s, f"{role}-1", PASSWORD, role, with_token=True) or ""
    await app[ORCH].wait_ready(READY_S)
    await hq.add_zones("thon-1")
    yield hq
    await client.close()


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_add_a_node_and_watch_it_come_online(prov_hq: Hq, browser, screen: Screen, tmp_path: Path) -> None:  # noqa: F811
    hq = prov_hq
    page = await new_page(browser, hq, screen)
    await login(page, "technician-1")
    await page.get_by_role("link", name="+ Thêm loa").click()
    await page.wait_for_url("**/nodes/new")
    await page.get_by_label("Mã máy trạm").fill("Loa Mới!")
    await page.get_by_role("button", name="Lấy mã đăng ký").click()
    assert "1 đến 64" in await page.locator('[data-error-for="id"]').inner_text()
    await page.get_by_label("Mã máy trạm").fill("thon1-loa-moi")
    await page.get_by_role("checkbox", name="Thôn 1").check()
    await page.get_by_role("button", name="Lấy mã đăng ký").click()
    code_box = page.locator("#enrol-code")
    await code_box.filter(has_text=re.compile(r"\w{4}-")).wait_for()
    code = (await code_box.inner_text()).strip()
    assert code in await page.locator("#enrol-cmd").inner_text()
    assert "install-node.sh --enrol http" in await page.locator("#enrol-cmd").inner_text()
    status = page.locator("#enrol-status")
    assert await page.locator("#https-warning").is_visible()  # this test HQ speaks plain HTTP: the page says so
    assert "Đang chờ thon1-loa-moi kết nối" in await status.inner_text()
    await page.evaluate("window.__sameDocument = true")
    await shot(page, screen, "23-node-new")

    # the node's side of `edge-agent enroll`: redeem the code once, write its files, start the agent
    status_code, payload = await hq.call("POST", "/api/v1/enrol", role=None, json={"code": code})
    assert status_code == 200, payload
    bundle = Bundle.from_json(payload)
    assert bundle.node == "thon1-loa-moi" and b"thon-1" in bundle.files["node.yaml"]
    etc = tmp_path / "node-etc"
    bundle.files["node.yaml"] = _localise(bundle.files["node.yaml"], etc, tmp_path / "node-state")
    _write(bundle, etc)
    hardware_edges(etc / "node.yaml", tmp_path / "node-out")
    agent = EdgeAgent(load_config(etc / "node.yaml"))
    await agent.start()
    try:
        await status.and_(page.locator('[data-state="online"]')).wait_for(timeout=60_000)
        assert "thon1-loa-moi đã kết nối" in await status.inner_text() and "Thôn 1" in await status.inner_text()
        assert await page.evaluate("window.__sameDocument === true")
        await shot(page, screen, "23-node-new-online")
    finally:
        await agent.stop()

    # asking again for the same node: HQ refuses to issue a second login unless it is new hardware
    await page.goto("/nodes/new")
    await page.get_by_label("Mã máy trạm").fill("thon1-loa-moi")
    await page.get_by_role("button", name="Lấy mã đăng ký").click()
    await page.locator('[data-error-for="id"]').filter(has_text="đã có tài khoản").wait_for()
    assert await page.locator("#replace-box").is_visible()
