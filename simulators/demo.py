"""One-machine demo: embedded Mosquitto + HQ signer + one simulated speaker node → a spoken WAV.

Everything is real except the sound card: the node is the real edge agent with the ``file`` sink,
configured from ``firmware_configs/speaker-node.example.yaml``; the broker is a real Mosquitto on
loopback; the bulletin is signed with a freshly generated HQ key and spoken by espeak-ng.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from edge_agent.app import EdgeAgent
from hq_server.send import AckCollector, format_ack, outcome_code, publish_command
from hq_server.signer import CommandSigner
from loaxa_contract import signing, topics
from loaxa_link.mosquitto import Mosquitto
from loaxa_link.mqtt import LinkConfig, MqttLink
from simulators.nodes import simulated_node_config

logger = logging.getLogger(__name__)

DEMO_TEXT = (
    "Loa truyền thanh xã xin thông báo: sáng mai, ngày 25/11, UBND xã tổ chức tiêm phòng cho đàn gia súc "
    "tại nhà văn hóa thôn 1 từ 7h30. Đề nghị bà con đưa vật nuôi đến đúng giờ."
)


async def run_demo(data_dir: Path, text: str = DEMO_TEXT, timeout: float = 60.0) -> int:
    data_dir = data_dir.resolve()
    keys = data_dir / "keys"
    if not (keys / "hq_ed25519.key").exists():
        signing.generate_keypair(keys)
    broker = Mosquitto(data_dir / "broker").start()
    try:
        cfg = simulated_node_config(data_dir, node_id="thon-1-loa-1", commune="xa-demo", zones=["thon-1"],
                                    port=broker.port, hq_public_key=keys / "hq_ed25519.pub")
        agent = EdgeAgent(cfg)
        await agent.start()
        await agent.link.wait_ready(15)

        signer = CommandSigner(keys / "hq_ed25519.key", data_dir / "seq")
        target = f"zone:{cfg.node.zones[0]}" if cfg.node.zones else "all"
        wire = signer.build("bulletin", target=target, ttl_s=600, bulletin_id=f"demo-{uuid.uuid4().hex[:8]}",
                            title="Thông báo tiêm phòng", text=text)
        collector = AckCollector(wire["id"], on_ack=lambda a: print(format_ack(a), flush=True))
        hq = MqttLink(LinkConfig(port=broker.port, client_id="loaxa-hq-demo",
                                 subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, cfg.node.commune)]),
                      on_message=collector.feed)
        await hq.start()
        await hq.wait_ready(15)
        topic = await publish_command(hq, cfg.node.commune, wire)
        print(f"HQ sent bulletin {wire['bulletin_id']} to {topic}; node {cfg.node.id} is speaking it…", flush=True)
        await collector.wait(expect=1, timeout=timeout)
        await hq.stop()
        await agent.stop()
    finally:
        broker.stop()
    code = outcome_code(collector)
    wavs = sorted(cfg.audio.file_dir.glob("*.wav"))
    if code == 0 and wavs:
        print(f"\nDone. The village heard: {wavs[-1]}\nPlay log: {wavs[-1].parent / 'play.log'}")
    else:
        print("\nThe bulletin was not played; see the acks above.")
    return code
