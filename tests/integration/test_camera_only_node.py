"""A camera-only node that receives a loudspeaker bulletin (its zone's or the commune's topic) refuses it with a
reason instead of scheduling it (real Mosquitto, real edge agent)."""

from __future__ import annotations

import json

import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin

pytestmark = pytest.mark.integration


async def test_camera_only_node_refuses_a_bulletin_with_a_reason(start_agent, tap, signer):
    agent = await start_agent("cam-node-1", zones=["thon-1"], node__kind="camera")
    cmd = bulletin(signer, target="zone:thon-1")
    await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), json.dumps(cmd).encode())
    ack = await tap.wait_stage(cmd["id"], AckStage.REJECTED, "cam-node-1")
    assert ack.reason == "not_a_speaker" and ack.bulletin_id == cmd["bulletin_id"]
    assert agent.player.held() == [] and tap.stages(cmd["id"]) == [AckStage.REJECTED]
