"""Two devices configured with the same node id: detected (MQTT 5 "session taken over"), backed off
instead of fighting for the session every second, reported in health, and raised as an alert at HQ."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge_agent.app import EdgeAgent
from edge_agent.control import takeover
from loaxa_contract.models import utcnow
from tests.conftest import wait_until
from tests.hq.fixtures import hq, start_hq, wait_async  # noqa: F401

pytestmark = pytest.mark.integration


def twin_of(agent: EdgeAgent, tmp_path, backoff_s: float | None = None) -> EdgeAgent:
    cfg = agent.config.model_copy(update={"state_dir": tmp_path / "twin" / "state"})
    twin = EdgeAgent(cfg)
    if backoff_s is not None:
        twin.link.config.takeover_backoff_s = backoff_s
    return twin


async def test_a_node_whose_session_is_taken_over_backs_off_and_says_why(start_agent, tmp_path):
    first = await start_agent("loa-1")
    twin = twin_of(first, tmp_path)
    await twin.start()
    try:
        await wait_until(lambda: "duplicate_node_id" in first.problems or "duplicate_node_id" in twin.problems,
                         30, "a device notices")
        noticed = first if "duplicate_node_id" in first.problems else twin
        await wait_until(lambda: takeover.read(noticed.config.state_dir) is not None, 10, "recorded for the doctor")
        connects = first.link.connects + twin.link.connects
        t0 = utcnow()
        await wait_until(lambda: utcnow() > t0 + timedelta(seconds=6), 10, "six seconds pass")
        # no fight: without a back-off they took the session from each other about twice a second
        assert first.link.connects + twin.link.connects <= connects + 1
        assert first.link.connected != twin.link.connected  # one holds the session, the other waits
    finally:
        await twin.stop()


async def test_hq_raises_an_alert_for_a_duplicate_node_id(hq, start_agent, tmp_path):  # noqa: F811
    first = await start_agent("a-1", zones=["thon-1"])
    first.link.config.takeover_backoff_s = 1.0
    twin = twin_of(first, tmp_path, backoff_s=1.0)
    await twin.start()
    alerts: list[dict] = []

    async def alerted() -> bool:
        nonlocal alerts
        _, body = await hq.call("GET", "/api/v1/alerts")
        alerts = [a for a in body["alerts"] if a["kind"] == "duplicate_node_id"]
        return bool(alerts)

    try:
        await wait_async(alerted, 40, "HQ alert for the duplicate node id")
        assert alerts[0]["subject"] == "a-1" and alerts[0]["severity"] == "critical"
        assert "a-1" in alerts[0]["message"] and len(alerts) == 1
    finally:
        await twin.stop()
