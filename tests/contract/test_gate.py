"""The node's command gate and replay guard, without sockets (clock injected)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.control.gate import CommandGate, DuplicateCommand, PersistentReplayGuard, ReplayGuard
from hq_server.signer import CommandSigner
from loaxa_contract import signing
from loaxa_contract.errors import ContractError, RefusalReason


@pytest.fixture
def keys(tmp_path):
    return signing.generate_keypair(tmp_path / "k")


@pytest.fixture
def signer(keys, tmp_path):
    return CommandSigner(keys[0], tmp_path / "seq")


def gate(keys, tmp_path, clock=lambda: datetime.now(UTC)) -> CommandGate:
    return CommandGate("n1", ["z1"], signing.load_public_key(keys[1]),
                       PersistentReplayGuard.load(tmp_path / "replay.json"), clock=clock)


def payload(wire: dict) -> bytes:
    return json.dumps(wire).encode()


def reason_of(g: CommandGate, data: bytes) -> RefusalReason:
    with pytest.raises(ContractError) as exc:
        g.admit(data)
    return exc.value.reason


def test_admits_once_then_refuses_replay_also_after_restart(keys, signer, tmp_path) -> None:
    wire = signer.build("ping", target="zone:z1", ttl_s=60)
    g = gate(keys, tmp_path)
    command = g.admit(payload(wire))
    assert command.id == wire["id"]
    with pytest.raises(DuplicateCommand):  # being handled: a concurrent copy is a duplicate
        g.admit(payload(wire))
    g.commit(command)
    with pytest.raises(DuplicateCommand):  # reloaded from disk: handled, never acted on again
        gate(keys, tmp_path).admit(payload(wire))


def test_seen_is_recorded_only_at_commit(keys, signer, tmp_path) -> None:
    """A command whose handling was cut before commit is handled again when the broker re-sends it."""
    wire = signer.build("ping", target="all", ttl_s=60)
    g = gate(keys, tmp_path)
    command = g.admit(payload(wire))
    assert gate(keys, tmp_path).admit(payload(wire)).id == command.id  # "restart" before commit: new
    g.release(command)
    assert g.admit(payload(wire)).id == command.id


def test_targets(keys, signer, tmp_path) -> None:
    g = gate(keys, tmp_path)
    for target in ("all", "zone:z1", "node:n1"):
        g.admit(payload(signer.build("ping", target=target, ttl_s=60)))
    for target in ("zone:z2", "node:n2"):
        assert reason_of(g, payload(signer.build("ping", target=target, ttl_s=60))) == RefusalReason.WRONG_TARGET


def test_expiry_uses_injected_clock(keys, signer, tmp_path) -> None:
    wire = signer.build("ping", target="all", ttl_s=60)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert reason_of(gate(keys, tmp_path, clock=lambda: later), payload(wire)) == RefusalReason.EXPIRED


def test_signature_checked_before_schema(keys, signer, tmp_path) -> None:
    """An attacker's malformed-but-unsigned command is refused as unsigned, not parsed further."""
    g = gate(keys, tmp_path)
    assert reason_of(g, b'{"v": 1, "type": "nonsense"}') == RefusalReason.UNSIGNED


def test_replay_guard_window() -> None:
    g = ReplayGuard(window=100)
    g.record("a", 1000)
    g.check("b", 950)  # within the window, new id: accepted (out-of-order delivery)
    with pytest.raises(ContractError, match="older than the replay window"):
        g.check("c", 900)
    with pytest.raises(ContractError, match="already handled"):
        g.check("a", 1001)
    with pytest.raises(ContractError, match="already used"):
        g.check("d", 1000)


def test_replay_guard_prunes_but_keeps_window() -> None:
    g = ReplayGuard(window=10)
    for i in range(1, 200):
        g.record(f"id{i}", i)
    assert len(g.seen) <= 64 + 11
    assert "id199" in g.seen


def test_corrupt_replay_state_is_moved_aside(tmp_path) -> None:
    path = tmp_path / "replay.json"
    path.write_text("{not json")
    g = PersistentReplayGuard.load(path)
    assert g.high_water == 0
    assert (tmp_path / "replay.json.corrupt").exists()


def test_sequence_grows_across_signers(keys, tmp_path) -> None:
    a = CommandSigner(keys[0], tmp_path / "seq")
    b = CommandSigner(keys[0], tmp_path / "seq")
    seqs = [s.build("ping", target="all", ttl_s=5)["seq"] for s in (a, b, a, b)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


# ---------------------------------------------------------------- malformed commands: refused, not crashed


def _resigned(signer: CommandSigner, keys, **changes) -> bytes:
    """A command as an attacker with HQ's key (or a bug at HQ) could produce: fields HQ itself refuses."""
    wire = {k: v for k, v in signer.build("ping", target="node:n1", ttl_s=60).items() if k != "sig"}
    wire.update(changes)
    return payload(signing.sign(wire, signing.load_private_key(keys[0])))


@pytest.mark.parametrize("depth", [17, 200, 20_000])
def test_deeply_nested_json_is_refused_as_malformed(keys, tmp_path, depth: int) -> None:
    data = b'{"v": 1, "id": "x1", "extra": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(data) < 64 * 1024
    with pytest.raises(ContractError) as exc:
        gate(keys, tmp_path).admit(data)
    assert exc.value.reason == RefusalReason.MALFORMED_JSON and "nested deeper than 16" in exc.value.detail


def test_an_id_longer_than_64_characters_is_refused_without_echoing_it(keys, signer, tmp_path) -> None:
    with pytest.raises(ContractError) as exc:
        gate(keys, tmp_path).admit(_resigned(signer, keys, id="x" * 65))
    assert exc.value.reason == RefusalReason.INVALID_SCHEMA and "id" in exc.value.detail
    assert exc.value.command_id is None  # the ack says "?": an ack cannot carry a 65-character id


async def test_dispatcher_acks_both_as_rejected_with_a_reason(keys, signer, tmp_path) -> None:
    """Through the real ack reporter (whose model refused the long id before): rejected, not internal_error."""
    from edge_agent.control.acks import AckReporter
    from edge_agent.control.dispatcher import Dispatcher
    from edge_agent.control.outbox import DiskOutbox
    from loaxa_contract import codec, topics
    from loaxa_contract.models import Ack, AckStage

    sent: list[Ack] = []

    async def publish(topic: str, data: bytes, **kw) -> None:
        sent.append(codec.decode_model(data, Ack))

    acks = AckReporter("n1", topics.node_ack("c", "n1"), publish, lambda: True,
                       outbox=DiskOutbox(tmp_path / "outbox"), health_topic=topics.node_health("c", "n1"))
    d = Dispatcher(gate(keys, tmp_path), acks)
    topic = topics.node_cmd("c", "n1")
    await d.handle(topic, b'{"v": 1, "id": "deep-1", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}")  # unparseable
    await d.handle(topic, b'{"v": 1, "id": "deep-2", "x": ' + b"[" * 40 + b"]" * 40 + b"}")
    await d.handle(topic, _resigned(signer, keys, id="y" * 200))
    assert [(a.command_id, a.stage, a.reason) for a in sent] == [
        ("?", AckStage.REJECTED, "malformed_json"), ("deep-2", AckStage.REJECTED, "malformed_json"),
        ("?", AckStage.REJECTED, "invalid_schema")]
    assert all(a.detail for a in sent) and d.refused == 3
