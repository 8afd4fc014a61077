"""RSS of an idle ``edge-agent run`` process holding a day's schedule (target: < 80 MB).

Starts a real Mosquitto and the agent as a subprocess, sends a programme (two windows), 24 timed
bulletins (one an hour) and 6 recurring ones, waits until all are scheduled, lets it idle, and prints
RSS and USS. Run: ``.venv/bin/python benchmarks/bench_edge_memory.py``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psutil

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


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-mem-"))
    credentials = CredentialStore(tmp / "credentials", COMMUNE)
    broker = Mosquitto(tmp / "broker", credentials).start()  # password file + ACL, as in production
    logins = SimulatedLogins(credentials, tmp / "secrets", tmp / "broker")
    priv, pub = signing.generate_keypair(tmp / "keys")
    signer = CommandSigner(priv, tmp / "seq")
    write_node_yaml(tmp / "node.yaml", simulated_node_settings(
        tmp, node_id="loa-1", commune=COMMUNE, zones=["thon-1"], port=broker.port, hq_public_key=pub,
        **logins.ensure({"loa-1": ["thon-1"]})["loa-1"]))
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "run", "--config", str(tmp / "node.yaml")],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acks: list[Ack] = []
    user, password = credentials.hq_login()
    tap = MqttLink(LinkConfig(port=broker.port, client_id="bench-tap", username=user, password=password,
                              subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)]),
                   on_message=lambda t, p: acks.append(codec.decode_model(p, Ack)))
    await tap.start()
    await tap.wait_ready(10)
    try:
        while not any(a.stage == AckStage.PONG for a in acks):
            ping = signer.build("ping", target="all", ttl_s=60)
            await tap.publish(topics.all_cmd(COMMUNE), json.dumps(ping).encode())
            await asyncio.sleep(0.5)
        cmds = [signer.build("set_program_schedule", target="all", ttl_s=600,
                             windows=[{"start": "05:30", "end": "06:30"}, {"start": "17:00", "end": "18:00"}])]
        for h in range(24):
            cmds.append(signer.build("bulletin", target="all", ttl_s=86400 + 3600, bulletin_id=f"b-{h}",
                                     text=f"Bản tin số {h}: thông báo của Ủy ban nhân dân xã về lịch họp thôn.",
                                     play_at=(utcnow() + timedelta(hours=h + 1)).isoformat()))
        for i in range(6):
            cmds.append(signer.build("bulletin", target="all", ttl_s=86400 * 30, bulletin_id=f"r-{i}",
                                     text=f"Chương trình thường kỳ số {i}.", chime=True,
                                     recurrence={"kind": "weekly", "at": f"0{5 + i % 3}:3{i}:00",
                                                 "weekdays": [0, 2, 4]}))
        for c in cmds:
            await tap.publish(topics.all_cmd(COMMUNE), json.dumps(c).encode())
        want = {c["id"] for c in cmds[1:]}
        t0 = time.monotonic()
        while {a.command_id for a in acks if a.stage == AckStage.SCHEDULED} != want:
            if time.monotonic() - t0 > 120:
                raise SystemExit("not all bulletins were scheduled")
            await asyncio.sleep(0.2)
        await asyncio.sleep(10)  # idle with the schedule held
        p = psutil.Process(proc.pid)
        mem = p.memory_full_info()
        print(f"edge-agent idle with {len(want)} scheduled bulletins + programme: "
              f"RSS {mem.rss / 2**20:.1f} MiB, USS {mem.uss / 2**20:.1f} MiB, threads {p.num_threads()}")
        print("PASS" if mem.rss < 80 * 2**20 else "FAIL: over 80 MiB")
    finally:
        await tap.stop()
        proc.terminate()
        proc.wait(15)
        broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
