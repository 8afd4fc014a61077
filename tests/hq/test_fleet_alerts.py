"""Fleet registry from real MQTT state/health topics, camera history, alerts to a local webhook."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from aiohttp import web

from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import CameraHealth, CameraStatus, NodeHealth, NodeState
from loaxa_link.mosquitto import free_port
from loaxa_link.mqtt import MqttLink
from tests.conftest import COMMUNE, node_link_config, wait_until
from tests.hq.fixtures import wait_async


async def _receiver() -> tuple[web.AppRunner, str, list[dict]]:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook", received


async def _publisher(broker, node_logins, node: str) -> MqttLink:
    """A client logged in as ``node`` (its own credential): it can publish only that node's topics."""
    link = MqttLink(node_link_config(broker, node_logins, node, session_expiry_s=0))
    await link.start()
    await link.wait_ready(10)
    return link


async def test_camera_status_changes_are_kept_and_alerted_to_the_webhook(start_hq, broker, node_logins):
    runner, url, received = await _receiver()
    hq = await start_hq(alerts={"webhook_url": url})
    pub = await _publisher(broker, node_logins, "cam-node-1")
    try:
        t0 = datetime.now(UTC)
        for i, status in enumerate((CameraStatus.OK, CameraStatus.COVERED)):
            msg = CameraHealth(camera="cong-truong", node="cam-node-1", status=status, reachable=True,
                               since=t0 + timedelta(seconds=i), detail="lens covered" if i else None)
            await pub.publish(topics.camera_health(COMMUNE, "cam-node-1", "cong-truong"), codec.encode(msg),
                              retain=True)
        await wait_until(lambda: len(received) >= 1, 20, "webhook POST")
        assert received[0]["kind"] == "camera_status" and received[0]["subject"] == "cong-truong"
        assert "ok → covered" in received[0]["detail"] and received[0]["commune"] == COMMUNE
        assert "bị che khuất" in received[0]["message"]

        status, body = await hq.call("GET", "/api/v1/cameras/cong-truong", role="police")
        assert status == 200 and body["camera"]["status"] == "covered"
        assert [h["status"] for h in body["history"]] == ["covered", "ok"]

        async def delivered() -> bool:
            _, alerts = await hq.call("GET", "/api/v1/alerts", role="police")
            return bool(alerts["alerts"]) and alerts["alerts"][0]["delivered"]

        for _ in range(100):
            if await delivered():
                break
            await wait_until(lambda: True)
        assert await delivered()
    finally:
        await pub.stop()
        await runner.cleanup()


async def test_nodes_learned_from_state_health_reboot_and_offline_alert(start_hq, broker, node_logins):
    hq = await start_hq(alerts={"node_offline_after_s": 0})
    pub = await _publisher(broker, node_logins, "loa-7")
    try:
        state = topics.node_state(COMMUNE, "loa-7")
        await pub.publish(state, codec.encode(NodeState(node="loa-7", state="online", zones=["thon-3"])), retain=True)
        health = topics.node_health(COMMUNE, "loa-7")
        await pub.publish(health, codec.encode(NodeHealth(node="loa-7", uptime_s=500, cpu_temp_c=61.5)))
        await pub.publish(health, codec.encode(NodeHealth(node="loa-7", uptime_s=3, cpu_temp_c=48.0)))
        await wait_until(lambda: hq.orch.processed >= 3, 20, "messages handled")
        await pub.publish(state, codec.encode(NodeState(node="loa-7", state="offline", zones=["thon-3"])), retain=True)

        async def alert_raised() -> list:
            _, alerts = await hq.call("GET", "/api/v1/alerts", role="technician")
            return [a for a in alerts["alerts"] if a["kind"] == "node_offline" and a["subject"] == "loa-7"]

        for _ in range(200):
            if await alert_raised():
                break
            await wait_until(lambda: True)
        assert len(await alert_raised()) == 1

        _, body = await hq.call("GET", "/api/v1/nodes/loa-7", role="technician")
        assert body["node"]["zones"] == ["thon-3"] and body["node"]["state"] == "offline"
        assert body["node"]["health"]["cpu_temp_c"] == 48.0
        assert {"online", "offline", "reboot"} <= {e["event"] for e in body["events"]}
        _, report = await hq.call("GET", "/api/v1/reports/nodes", role="technician")
        row = next(r for r in report["nodes"] if r["node"] == "loa-7")
        assert row["reboots"] == 1 and row["disconnects"] == 1 and row["reconnects"] == 1
        assert json.dumps(row)  # serialisable for CSV/JSON export
    finally:
        await pub.stop()


async def test_webhook_is_retried_with_backoff_and_the_outcome_recorded(start_hq, broker, node_logins):
    responses = [503, 503, 204]  # then, for the next alert: 400 (a permanent refusal)
    hits: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(asyncio.get_running_loop().time())
        await request.json()
        return web.Response(status=responses.pop(0) if responses else 400)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hq = await start_hq(alerts={"webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_attempts": 4,
                                "webhook_backoff_s": 0.1})
    pub = await _publisher(broker, node_logins, "cam-node-1")
    alerts: list[dict] = []

    async def settled(n: int) -> bool:
        nonlocal alerts
        _, body = await hq.call("GET", "/api/v1/alerts", role="police")
        alerts = body["alerts"]
        return len(alerts) >= n and all(a["delivered"] or (a["delivery_error"] or "").startswith("webhook")
                                        for a in alerts)

    try:
        t0 = datetime.now(UTC)
        for i, status in enumerate((CameraStatus.OK, CameraStatus.BLACK, CameraStatus.OK)):
            msg = CameraHealth(camera="cho-xa", node="cam-node-1", status=status, reachable=True,
                               since=t0 + timedelta(seconds=i))
            await pub.publish(topics.camera_health(COMMUNE, "cam-node-1", "cho-xa"), codec.encode(msg), retain=True)
            if i == 1:
                await wait_async(lambda: settled(1), 20, "first alert delivered")
        await wait_async(lambda: settled(2), 20, "second alert settled")
        first, second = alerts[1], alerts[0]  # newest first
        assert first["delivered"] and first["delivery_attempts"] == 3 and first["delivery_error"] is None
        assert hits[1] - hits[0] >= 0.095 and hits[2] - hits[1] >= 0.19  # 0.1 s, then doubled
        assert not second["delivered"] and second["delivery_attempts"] == 1  # 4xx: not retried
        assert second["delivery_error"] == "webhook answered HTTP 400"
    finally:
        await pub.stop()
        await runner.cleanup()


async def test_webhook_retries_survive_an_hq_restart(start_hq):
    responses = [503]  # fails once, then succeeds
    hits: list[tuple[float, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append((asyncio.get_running_loop().time(), await request.json()))
        return web.Response(status=responses.pop(0) if responses else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/hook"
    try:
        # first HQ: the retry would come only after 30 s; it is stopped before that
        first = await start_hq(alerts={"webhook_url": url, "webhook_backoff_s": 30, "webhook_sweep_s": 0.05})
        async with first.app[DB].sessions() as s:
            alert = await first.orch.alerter.raise_alert(s, "camera_status", "cong-xa", "ok → black")
            await s.commit()
        alert_id = alert.id

        async def row(hq) -> dict:
            _, body = await hq.call("GET", "/api/v1/alerts", role="police")
            return next(a for a in body["alerts"] if a["id"] == alert_id)

        async def first_try_recorded() -> bool:
            a = await row(first)
            return a["delivery_attempts"] == 1 and a["delivery_pending"] and not a["delivered"]

        await wait_async(first_try_recorded, 10, "first (failed) try recorded")
        assert (await row(first))["delivery_error"] == "retrying: webhook answered HTTP 503"
        assert await first.orch.alerter.sweep() == 0  # in flight here, and its backoff has not passed
        await first.client.close()  # HQ stops; the in-memory retry is gone
        assert len(hits) == 1

        # restarted HQ on the same database: the sweeper resumes, respecting the backoff since the last try
        second = await start_hq(tokens=first.tokens, alerts={"webhook_url": url, "webhook_backoff_s": 1.0,
                                                             "webhook_sweep_s": 0.05})

        async def delivered() -> bool:
            return (await row(second))["delivered"]

        await wait_async(delivered, 15, "retry after restart delivered")
        a = await row(second)
        assert a["delivery_attempts"] == 2 and not a["delivery_pending"] and a["delivery_error"] is None
        assert len(hits) == 2 and hits[1][1]["id"] == hits[0][1]["id"] == alert_id
        assert hits[1][0] - hits[0][0] >= 1.0  # backoff after one try, counted from the last try
        assert await second.orch.alerter.sweep() == 0  # nothing left to do
    finally:
        await runner.cleanup()
