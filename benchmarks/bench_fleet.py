"""How many simulated speaker nodes one process and one loop can carry.

Starts an embedded Mosquitto and N real edge agents (null sink: no real-time wait) in one asyncio
loop, sends one signed bulletin to the whole commune and reports: time to bring the fleet online,
time from publish until every node acked ``played``, process RSS and open file descriptors.

    .venv/bin/python benchmarks/bench_fleet.py --nodes 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import psutil

from hq_server.send import AckCollector
from hq_server.signer import CommandSigner
from loaxa_contract import signing, topics
from loaxa_contract.models import AckStage
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto
from loaxa_link.mqtt import LinkConfig, MqttLink
from simulators.nodes import SimulatedLogins
from simulators.village import Village

COMMUNE = "xa-bench"


async def run(nodes: int, zones: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="loaxa-fleet-"))
    priv, pub = signing.generate_keypair(tmp / "keys")
    credentials = CredentialStore(tmp / "credentials", COMMUNE)
    broker = Mosquitto(tmp / "broker", credentials).start()  # password file + ACL, as in production
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    village = Village(tmp / "village", COMMUNE, broker.port, pub, sink="null",
                      logins=SimulatedLogins(credentials, tmp / "secrets", tmp / "broker"))
    try:
        t0 = time.perf_counter()
        await village.start(zones=zones, per_zone=max(1, nodes // zones))
        online_s = time.perf_counter() - t0
        signer = CommandSigner(priv, tmp / "seq")
        wire = signer.build("bulletin", target="all", ttl_s=600, bulletin_id="bench", text="Thông báo thử nghiệm.")
        collector = AckCollector(wire["id"])
        user, password = credentials.hq_login()
        hq = MqttLink(LinkConfig(port=broker.port, client_id="bench-hq", username=user, password=password,
                                 subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)]),
                      on_message=collector.feed)
        await hq.start()
        await hq.wait_ready(30)
        t1 = time.perf_counter()
        await hq.publish(topics.all_cmd(COMMUNE), json.dumps(wire).encode())
        await collector.wait(expect=len(village.agents), timeout=300)
        delivered_s = time.perf_counter() - t1
        played = sum(1 for a in collector.terminal_nodes().values() if a.stage == AckStage.PLAYED)
        result = {
            "nodes": len(village.agents), "online_s": round(online_s, 2), "all_played_s": round(delivered_s, 2),
            "played": played, "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "rss_per_node_kb": round((proc.memory_info().rss - rss0) / max(1, len(village.agents)) / 1024, 1),
            "open_fds": proc.num_fds(), "threads": proc.num_threads(),
        }
        await hq.stop()
        return result
    finally:
        await village.stop()
        broker.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--zones", type=int, default=10)
    args = p.parse_args()
    result = asyncio.run(run(args.nodes, args.zones))
    for k, v in result.items():
        print(f"{k:>16}: {v}")


if __name__ == "__main__":
    main()
