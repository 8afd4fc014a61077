"""The dispatcher never lets a handler crash take the node down, and says which command failed."""

from __future__ import annotations

import json

from edge_agent.control.dispatcher import Dispatcher
from edge_agent.control.gate import CommandGate, ReplayGuard
from hq_server.signer import CommandSigner
from loaxa_contract import signing, topics
from loaxa_contract.models import AckStage


class RecordingAcks:
    """Stands in for the MQTT-publishing ack reporter at the transport edge."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, AckStage, dict]] = []

    async def ack(self, command_id: str, stage: AckStage, **kw: object) -> None:
        self.acks.append((command_id, stage, kw))


async def test_crashing_handler_is_acked_with_its_command_id_and_next_command_still_runs(tmp_path) -> None:
    priv, pub = signing.generate_keypair(tmp_path)
    signer = CommandSigner(priv, tmp_path / "seq")
    acks = RecordingAcks()
    gate = CommandGate("n1", ["z1"], signing.load_public_key(pub), ReplayGuard())
    d = Dispatcher(gate, acks)  # type: ignore[arg-type]
    handled: list[str] = []

    async def boom(command) -> None:
        raise RuntimeError("disk full")

    async def ok(command) -> None:
        handled.append(command.id)

    d.register("bulletin", boom)
    d.register("ping", ok)
    topic = topics.node_cmd("c", "n1")
    bad = signer.build("bulletin", target="all", ttl_s=60, bulletin_id="b1", text="Xin chào")
    await d.handle(topic, json.dumps(bad).encode())
    assert acks.acks == [(bad["id"], AckStage.FAILED,
                          {"bulletin_id": "b1", "reason": "internal_error", "detail": "RuntimeError: disk full"})]

    ping = signer.build("ping", target="node:n1", ttl_s=60)
    await d.handle(topic, json.dumps(ping).encode())
    assert handled == [ping["id"]]

    await d.handle(topic, json.dumps(signer.build("set_volume", target="all", ttl_s=60, volume=50)).encode())
    assert acks.acks[-1][1] == AckStage.FAILED and acks.acks[-1][2]["reason"] == "unsupported_command"


async def test_every_contract_command_has_a_handler_on_a_full_node(make_node_config, tmp_path) -> None:
    """A command added to the contract cannot be silently unhandled by a node that has cameras."""
    from typing import get_args

    from edge_agent.app import EdgeAgent
    from loaxa_contract.models import Command

    union = get_args(Command)[0]
    types = {m.model_fields["type"].default for m in get_args(union)}
    cfg = make_node_config("full", cameras=[{"id": "cam-1", "url": "http://127.0.0.1:9/x.mjpg"}])
    agent = EdgeAgent(cfg)
    assert types == set(agent.dispatcher.handlers), types ^ set(agent.dispatcher.handlers)
