"""A simulated village: many real agents on one event loop, zone targeting across the fleet."""

from __future__ import annotations

import json

import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from simulators.village import Village
from tests.conftest import COMMUNE, bulletin, wait_until

pytestmark = pytest.mark.integration


async def test_zone_bulletin_reaches_exactly_that_zone(broker, tap, signer, hq_keys, tmp_path, node_logins):
    village = Village(tmp_path / "village", COMMUNE, broker.port, hq_keys[1], sink="null", logins=node_logins)
    await village.start(zones=2, per_zone=10)
    try:
        zone_cmd = bulletin(signer, target="zone:thon-2", text="Thôn 2 họp lúc 19h.")
        all_cmd = bulletin(signer, target="all", text="Toàn xã chú ý.")
        await tap.publish(topics.zone_cmd(COMMUNE, "thon-2"), json.dumps(zone_cmd).encode())
        await tap.publish(topics.all_cmd(COMMUNE), json.dumps(all_cmd).encode())

        def played_by(cmd: dict) -> set[str]:
            return {a.node for a in tap.for_command(cmd["id"]) if a.stage == AckStage.PLAYED}

        await wait_until(lambda: len(played_by(all_cmd)) == 20, 60, "all 20 nodes played the commune bulletin")
        await wait_until(lambda: len(played_by(zone_cmd)) == 10, 60, "zone 2 played its bulletin")
        assert played_by(zone_cmd) == {f"thon-2-loa-{n}" for n in range(1, 11)}
        assert not any(a.node.startswith("thon-1") for a in tap.for_command(zone_cmd["id"]))
    finally:
        await village.stop()
