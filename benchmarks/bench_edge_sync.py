"""Synchronised start: two ``edge-agent run`` processes given the same ``play_at``; prints the skew.

Each round HQ sends one zone bulletin with ``play_at`` 4 s ahead; the ``played`` acks carry each
node's measured start. Reports, per round, the skew between the nodes and each node's lateness
against ``play_at`` (both nodes share this machine's clock, so this measures the agent, not NTP).
Run: ``.venv/bin/python benchmarks/bench_edge_sync.py [rounds]``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hq_server.signer import CommandSigner  # noqa: E402
from loaxa_contract import codec, signing, topics  # noqa: E402
from loaxa_contract.models import Ack, AckStage, utcnow  # noqa: E402
from loaxa_link.credentials import CredentialStore  # noqa: E402
from loaxa_link.mosquitto import Mosquitto  # noqa: E402
from loaxa_link.mqtt import LinkConfig, MqttLink  # noqa: E402
from simulators.nodes import SimulatedLogins, simulated_node_settings, write_node_yaml  # noqa: E402

COMMUNE = "xa-bench"
NODES = ("loa-1", "loa-2")


async def main(rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-sync-"))
    credentials = CredentialStore(tmp / "credentials", COMMUNE)
    broker = Mosquitto(tmp / "broker", credentials).start()  # password file + ACL, as in production
    logins = SimulatedLogins(credentials, tmp / "secrets", tmp / "broker")
    priv, pub = signing.generate_keypair(tmp / "keys")
    signer = CommandSigner(priv, tmp / "seq")
    procs = []
    for node in NODES:
        write_node_yaml(tmp / f"{node}.yaml", simulated_node_settings(
            tmp, node_id=node, commune=COMMUNE, zones=["thon-1"], port=broker.port, hq_public_key=pub,
            amplifier__warmup_s=0.3, amplifier__hold_s=0.5, **logins.ensure({node: ["thon-1"]})[node]))
        procs.append(subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "run", "--config",
                                       str(tmp / f"{node}.yaml")], cwd=REPO, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    acks: list[Ack] = []
    user, password = credentials.hq_login()
    tap = MqttLink(LinkConfig(port=broker.port, client_id="bench-tap", username=user, password=password,
                              subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)]),
                   on_message=lambda t, p: acks.append(codec.decode_model(p, Ack)))
    await tap.start()
    await tap.wait_ready(10)
    skews, lates = [], []
    try:
        while {a.node for a in acks if a.stage == AckStage.PONG} != set(NODES):
            ping = signer.build("ping", target="all", ttl_s=60)
            await tap.publish(topics.all_cmd(COMMUNE), json.dumps(ping).encode())
            await asyncio.sleep(0.5)
        for i in range(rounds):
            play_at = utcnow() + timedelta(seconds=4)
            cmd = signer.build("bulletin", target="zone:thon-1", ttl_s=60, bulletin_id=f"sync-{i}",
                               text="Kiểm tra phát đồng loạt.", play_at=play_at.isoformat())
            await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), json.dumps(cmd).encode())
            while len([a for a in acks if a.command_id == cmd["id"] and a.stage == AckStage.PLAYED]) < 2:
                await asyncio.sleep(0.05)
            played = [a for a in acks if a.command_id == cmd["id"] and a.stage == AckStage.PLAYED]
            starts = [a.started_at for a in played]
            skew = abs((starts[0] - starts[1]).total_seconds()) * 1000
            late = [(s - play_at).total_seconds() * 1000 for s in starts]
            skews.append(skew)
            lates += late
            print(f"round {i}: skew {skew:.2f} ms, late {late[0]:.2f} / {late[1]:.2f} ms")
        print(f"skew median {statistics.median(skews):.2f} ms, max {max(skews):.2f} ms; "
              f"lateness median {statistics.median(lates):.2f} ms, max {max(lates):.2f} ms")
    finally:
        await tap.stop()
        for p in procs:
            p.terminate()
            p.wait(15)
        broker.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
