"""``/metrics`` through prometheus_client: the fan-out figures an operator watches, after a real broadcast.

Real Mosquitto, real edge agents, real HQ: a bulletin to two nodes must leave one submit → sent
observation, one sent → received and one received → played observation per node, and count every
ack HQ ingested; the inbound queue depth is read live from the orchestrator.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.hq.fixtures import Hq, hq, start_hq  # noqa: F401

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_fanout_histograms_and_ingested_acks_after_a_broadcast(hq: Hq, start_agent) -> None:  # noqa: F811
    await start_agent("a-1", zones=["thon-1"])
    await start_agent("a-2", zones=["thon-1"])
    await hq.add_zones("thon-1")
    status, text = await hq.call("GET", "/metrics", role="technician")
    assert status == 200
    before = samples(text)
    assert before[("loaxa_hq_acks_ingested_total", ())] == 0
    assert ("loaxa_hq_inbound_queue_depth", ()) in before

    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Thông báo thử nghiệm đo đạc.", "targets": {"zones": ["thon-1"]}})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    for node in ("a-1", "a-2"):
        await hq.wait_delivery(bid, node, "played")

    status, text = await hq.call("GET", "/metrics", role="technician")
    after = samples(text)
    assert after[("loaxa_hq_submit_to_sent_seconds_count", ())] == 1
    # One observation per node whose `received` HQ matched to its send. Today's dispatch publishes before it
    # commits the deliveries, so a `received` handled in that window is not matched (docs/PERFORMANCE.md,
    # "Defects seen"): at least one, never more than the nodes.
    sent_received = after[("loaxa_hq_sent_to_received_seconds_count", ())]
    assert 1 <= sent_received <= 2
    assert after[("loaxa_hq_sent_to_received_seconds_bucket", (("le", "+Inf"),))] == sent_received
    played = after[("loaxa_hq_received_to_played_seconds_count", ())]
    assert 1 <= played <= 2
    # received → played waits for the synchronised start: at least most of the lead time (1 s here)
    assert after[("loaxa_hq_received_to_played_seconds_sum", ())] >= played * 0.5
    # received, rendered, scheduled, playing, played from each node at least
    assert after[("loaxa_hq_acks_ingested_total", ())] >= 10
    assert after[("loaxa_hq_acks_total", (("stage", "played"),))] == 2
    assert after[("loaxa_hq_deliveries", (("state", "played"),))] == 2
    assert after[("loaxa_hq_bulletins_sent_total", (("priority", "normal"),))] == 1
    assert after[("loaxa_hq_mqtt_connected", ())] == 1
    assert hq.orch.metrics.get("loaxa_hq_acks_ingested_total") == after[("loaxa_hq_acks_ingested_total", ())]


async def test_inbound_queue_depth_is_read_at_each_scrape(hq: Hq) -> None:  # noqa: F811
    # no await between the put and the read: the inbound worker cannot take the message in between
    hq.orch.router.on_message("loaxa/v1/xa-test/node/x/ack", b"{}")
    hq.orch.router.on_message("loaxa/v1/xa-test/node/y/ack", b"{}")
    assert hq.orch.metrics.get("loaxa_hq_inbound_queue_depth") == hq.orch.router.depth() >= 2
