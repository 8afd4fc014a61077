"""End to end on a real Mosquitto and real espeak-ng: HQ signs → broker → edge agent → speech → acks."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from edge_agent.playback.loudness import wav_stats
from loaxa_contract import signing, topics
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_contract.models import AckStage, NodeState
from tests.conftest import COMMUNE, bulletin, wait_until

pytestmark = pytest.mark.integration


def wire(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


async def test_bulletin_is_spoken_to_wav_and_acked_in_order(start_agent, tap, signer):
    agent = await start_agent("loa-1")
    cmd = bulletin(signer, target="zone:thon-1")
    await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), wire(cmd))
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED)

    assert tap.stages(cmd["id"]) == [AckStage.RECEIVED, AckStage.RENDERED, AckStage.PLAYING, AckStage.PLAYED]
    wavs = list(Path(agent.config.audio.file_dir).glob("*.wav"))
    assert len(wavs) == 1
    with wave.open(str(wavs[0])) as w:
        assert w.getnframes() > 0
    duration, dbfs = wav_stats(wavs[0].read_bytes())
    assert 1.5 < duration < 30, duration  # two short sentences
    assert dbfs > -40, f"audio is near-silent: {dbfs} dBFS"
    assert played.duration_s == pytest.approx(duration, abs=0.01)
    assert (played.ended_at - played.started_at).total_seconds() >= duration * 0.95  # real-time sink
    assert played.loudness_dbfs == pytest.approx(dbfs, abs=0.2)


async def test_node_topic_and_all_topic_reach_the_node(start_agent, tap, signer):
    await start_agent("loa-1")
    c1 = bulletin(signer, text="Một", target="node:loa-1")
    await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire(c1))
    c2 = bulletin(signer, text="Hai", target="all")
    await tap.publish(topics.all_cmd(COMMUNE), wire(c2))
    await tap.wait_stage(c1["id"], AckStage.PLAYED)
    await tap.wait_stage(c2["id"], AckStage.PLAYED)


async def _assert_still_serving(tap, signer) -> None:
    ok = bulletin(signer, text="Vẫn hoạt động")
    await tap.publish(topics.all_cmd(COMMUNE), wire(ok))
    await tap.wait_stage(ok["id"], AckStage.PLAYED)


async def test_forged_command_is_refused_and_agent_keeps_serving(start_agent, tap, signer, tmp_path):
    await start_agent("loa-1")
    other_key = signing.load_private_key(signing.generate_keypair(tmp_path / "evil")[0])
    forged = signing.sign({k: v for k, v in bulletin(signer).items() if k != "sig"}, other_key)
    await tap.publish(topics.all_cmd(COMMUNE), wire(forged))
    ack = await tap.wait_rejected("bad_signature")
    assert ack.command_id == forged["id"] and ack.stage == AckStage.REJECTED

    tampered = bulletin(signer)
    tampered["text"] = "Nội dung bị sửa"
    await tap.publish(topics.all_cmd(COMMUNE), wire(tampered))
    await wait_until(lambda: AckStage.REJECTED in tap.stages(tampered["id"]), 20, "tampered rejected")
    await _assert_still_serving(tap, signer)


async def test_unsigned_malformed_oversized_and_bad_schema_are_refused(start_agent, tap, signer):
    await start_agent("loa-1")
    unsigned = {k: v for k, v in bulletin(signer).items() if k != "sig"}
    await tap.publish(topics.all_cmd(COMMUNE), wire(unsigned))
    assert (await tap.wait_rejected("unsigned")).command_id == unsigned["id"]

    await tap.publish(topics.all_cmd(COMMUNE), b'{"v": 1, "type": "bulletin", ')
    malformed = await tap.wait_rejected("malformed_json")
    assert malformed.command_id == "?" and "line 1" in (malformed.detail or "")

    await tap.publish(topics.all_cmd(COMMUNE), b"x" * (64 * 1024 + 1))
    assert "65537 bytes" in ((await tap.wait_rejected("oversized")).detail or "")

    unsigned_fields = {k: v for k, v in bulletin(signer).items() if k != "sig"}
    big = signing.sign({**unsigned_fields, "text": "à" * (MAX_TEXT_CHARS + 1)}, signer.key)
    await tap.publish(topics.all_cmd(COMMUNE), wire(big))
    await wait_until(lambda: any(a.command_id == big["id"] and a.reason == "oversized" for a in tap.acks), 20)

    bad = signing.sign({**{k: v for k, v in bulletin(signer).items() if k != "sig"}, "priority": "urgent",
                        "repeat": 99}, signer.key)
    await tap.publish(topics.all_cmd(COMMUNE), wire(bad))
    ack = await tap.wait_rejected("invalid_schema")
    assert "priority" in ack.detail and "repeat" in ack.detail

    await _assert_still_serving(tap, signer)


async def test_expired_and_wrong_target_are_refused(start_agent, tap, signer):
    await start_agent("loa-1", zones=["thon-1"])
    expired = bulletin(signer, ttl_s=-5)
    await tap.publish(topics.all_cmd(COMMUNE), wire(expired))
    ack = await tap.wait_rejected("expired")
    assert ack.command_id == expired["id"]

    # a command signed for another node, replayed onto this node's topic
    other = bulletin(signer, target="node:loa-9")
    await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire(other))
    assert (await tap.wait_rejected("wrong_target")).command_id == other["id"]
    await _assert_still_serving(tap, signer)


async def test_replay_is_refused_even_after_restart(start_agent, tap, signer, make_node_config, broker):
    agent = await start_agent("loa-1")
    cmd = bulletin(signer)
    await tap.publish(topics.all_cmd(COMMUNE), wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.PLAYED)

    # a copy of a handled command is never acted on again; it is not "rejected" either: a broker
    # re-sending a message whose acknowledgement a power cut lost looks exactly the same
    await tap.publish(topics.all_cmd(COMMUNE), wire(cmd))
    await wait_until(lambda: agent.dispatcher.duplicates == 1, 20, "replay ignored")

    await agent.stop()
    restarted = await start_agent(config=agent.config)
    await tap.publish(topics.all_cmd(COMMUNE), wire(cmd))
    await wait_until(lambda: restarted.dispatcher.duplicates == 1, 20, "replay after restart ignored")
    # a command with the same id but another sequence number (re-signed) is refused as a replay
    forged = {**cmd, "seq": cmd["seq"] + 1}
    await tap.publish(topics.all_cmd(COMMUNE), wire(forged))
    assert (await tap.wait_rejected("bad_signature")).command_id == cmd["id"]
    assert tap.stages(cmd["id"]).count(AckStage.PLAYED) == 1
    assert len(list(Path(restarted.config.audio.file_dir).glob("*.wav"))) == 1


async def test_same_bulletin_delivered_twice_plays_once(start_agent, tap, signer):
    agent = await start_agent("loa-1")
    first = bulletin(signer, bulletin_id="b-dup")
    second = bulletin(signer, bulletin_id="b-dup")  # HQ re-send: new command id, same bulletin
    await tap.publish(topics.all_cmd(COMMUNE), wire(first))
    await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), wire(second))
    await tap.wait_stage(first["id"], AckStage.PLAYED)
    marker = bulletin(signer, text="Kết thúc")
    await tap.publish(topics.all_cmd(COMMUNE), wire(marker))
    await tap.wait_stage(marker["id"], AckStage.PLAYED)
    assert tap.stages(second["id"]) == []
    assert len(list(Path(agent.config.audio.file_dir).glob("*b-dup.wav"))) == 1


async def test_cancel_stops_a_playing_bulletin(start_agent, tap, signer):
    await start_agent("loa-1")
    long = bulletin(signer, text="Thông báo dài. " * 40, bulletin_id="b-long")
    await tap.publish(topics.all_cmd(COMMUNE), wire(long))
    await tap.wait_stage(long["id"], AckStage.PLAYING)
    cancel = signer.build("cancel", target="all", ttl_s=60, bulletin_id="b-long")
    await tap.publish(topics.all_cmd(COMMUNE), wire(cancel))
    await tap.wait_stage(long["id"], AckStage.CANCELLED)
    await tap.wait_stage(cancel["id"], AckStage.CANCELLED)
    assert AckStage.PLAYED not in tap.stages(long["id"])


async def test_offline_node_gets_command_from_persistent_session(start_agent, tap, signer, make_node_config, broker):
    agent = await start_agent("loa-1")
    await agent.stop()
    cmd = bulletin(signer, target="node:loa-1")
    await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire(cmd))
    await start_agent(config=agent.config)
    await tap.wait_stage(cmd["id"], AckStage.PLAYED)


async def test_birth_and_last_will_are_retained(start_agent, broker):
    from loaxa_contract import codec
    from loaxa_link.mqtt import MqttLink
    from tests.conftest import hq_link_config

    agent = await start_agent("loa-1")
    states: list[NodeState] = []
    watcher = MqttLink(hq_link_config(broker, "watch",
                                      subscriptions=[topics.filter_for(topics.TopicKind.NODE_STATE, COMMUNE)]),
                       on_message=lambda t, p: states.append(codec.decode_model(p, NodeState)))
    await watcher.start()
    try:
        await wait_until(lambda: any(s.state == "online" for s in states), 10, "retained online")
        assert states[-1].node == "loa-1" and "bulletin" in states[-1].capabilities
        await agent.link.kill()  # unclean: the broker must publish the will
        await wait_until(lambda: states[-1].state == "offline", 30, "last will offline")
    finally:
        await watcher.stop()
