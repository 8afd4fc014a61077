"""Camera-only nodes (kind ``camera``) have no loudspeaker: HQ never targets them for a bulletin, a stray ack
from one is not tracked, and broadcast reports leave them out (real HQ app, real Mosquitto)."""

from __future__ import annotations

from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage, NodeState
from tests.conftest import COMMUNE

TEXT = "Thông báo lịch cắt điện thôn Một."


async def _online(hq, node: str, kind: str, zones: list[str]) -> None:
    await hq.orch.handle(topics.node_state(COMMUNE, node),
                         codec.encode(NodeState(node=node, state="online", kind=kind, zones=zones)))  # type: ignore[arg-type]


async def test_camera_only_nodes_are_never_targeted_nor_counted(hq):
    await _online(hq, "loa-1", "speaker", ["thon-1"])
    await _online(hq, "hon-hop-1", "mixed", ["thon-1"])
    await _online(hq, "cam-1", "camera", ["thon-1"])

    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": TEXT, "targets": {"nodes": ["cam-1"]}})
    assert status == 400 and "camera" in body["fields"]["targets.nodes.0"], body

    for targets in ({"zones": ["thon-1"]}, {"all": True}):
        status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                     json={"text": TEXT, "targets": targets})
        assert status == 201, body
        bid = body["bulletin"]["id"]
        await hq.wait_bulletin(bid, "active")  # dispatched off the request
        assert set(await hq.deliveries(bid)) == {"loa-1", "hon-hop-1"}, targets

    # the camera node got the zone command anyway (it listens to its zone) and refused it: not tracked
    command_id = (await hq.deliveries(bid))["loa-1"]["command_id"]
    await hq.orch.handle(topics.node_ack(COMMUNE, "cam-1"), codec.encode(Ack(
        node="cam-1", command_id=command_id, bulletin_id=bid, stage=AckStage.REJECTED, reason="not_a_speaker")))
    assert set(await hq.deliveries(bid)) == {"loa-1", "hon-hop-1"}

    status, report = await hq.call("GET", "/api/v1/reports/broadcasts?group=node", role="technician")
    assert status == 200 and {r["node"] for r in report["rows"]} == {"loa-1", "hon-hop-1"}, report
