"""Speaker node on a real Mosquitto: programme day, preemption, cancel, expiry, sync start, outage, relay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin, wait_until
from tests.edge.helpers import tone
from tests.integration.speaker_helpers import FAST, in_s, window_after, wire

pytestmark = pytest.mark.integration

ALL = topics.all_cmd(COMMUNE)
LONG_TEXT = "Thông báo của Ủy ban nhân dân xã về lịch tiêm phòng cho đàn gia súc trong thôn. " * 6


async def start_fast(start_agent, node_id: str = "loa-1", **kw):
    return await start_agent(node_id, **{**FAST, **kw})


def transitions(agent) -> list[tuple[float, bool]]:
    return list(agent.relay_backend.transitions)


async def test_programme_day_relay_and_audio_timeline(start_agent, tap, signer):
    agent = await start_fast(start_agent)
    w_start, w_end, window = window_after(3, 7)
    prog = signer.build("set_program_schedule", target="all", ttl_s=60, windows=[window])
    await tap.publish(ALL, wire(prog))
    await tap.wait_stage(prog["id"], AckStage.PLAYED)
    waiting = bulletin(signer, text="Mời bà con đi họp.", bulletin_id="b-wait")
    overrun = bulletin(signer, text=LONG_TEXT, bulletin_id="b-over")
    await tap.publish(ALL, wire(waiting))
    await tap.publish(ALL, wire(overrun))
    await tap.wait_stage(overrun["id"], AckStage.RENDERED)
    assert AckStage.PLAYING not in tap.stages(waiting["id"])  # outside the window: it waits

    played = await tap.wait_stage(waiting["id"], AckStage.PLAYED, timeout=20)
    cut = await tap.wait_stage(overrun["id"], AckStage.PLAYED, timeout=20)
    await wait_until(lambda: transitions(agent)[-1][1] is False and len(transitions(agent)) >= 3, 10, "relay off")

    assert played.started_at >= w_start
    assert cut.reason == "cut_at_window_end"
    assert abs((cut.ended_at - w_end).total_seconds()) < 0.3
    tl = transitions(agent)
    on = [t for t, state in tl if state]
    off = [t for t, state in tl[1:] if not state]
    assert len(on) == 1, tl  # on once for the whole window: no flapping between items
    assert abs(on[0] - w_start.timestamp()) < 0.3, (on[0], w_start.timestamp())
    assert w_end.timestamp() - 0.05 < off[-1] < w_end.timestamp() + FAST["amplifier__hold_s"] + 0.5
    log = (Path(agent.config.audio.file_dir) / "play.log").read_text()
    assert "cut" in log


async def test_emergency_preempts_and_interrupted_item_is_requeued(start_agent, tap, signer):
    agent = await start_fast(start_agent)
    normal = bulletin(signer, text=LONG_TEXT, bulletin_id="b-normal")
    await tap.publish(ALL, wire(normal))
    await tap.wait_stage(normal["id"], AckStage.PLAYING)
    await wait_until(lambda: agent.player.playing == "b-normal" and agent.amplifier.on, 10, "normal on air")
    emergency = bulletin(signer, text="Khẩn cấp: bão số ba đổ bộ.", bulletin_id="b-em", priority="emergency")
    await tap.publish(ALL, wire(emergency))
    em = await tap.wait_stage(emergency["id"], AckStage.PLAYED)
    requeued = next(a for a in tap.for_command(normal["id"]) if a.reason == "preempted")
    assert requeued.stage == AckStage.SCHEDULED and requeued.ts <= em.started_at
    await wait_until(lambda: tap.stages(normal["id"]).count(AckStage.PLAYING) == 2, 15, "normal restarted")
    cancel = signer.build("cancel", target="all", ttl_s=60, bulletin_id="b-normal")
    await tap.publish(ALL, wire(cancel))
    await tap.wait_stage(normal["id"], AckStage.CANCELLED)
    await tap.wait_stage(cancel["id"], AckStage.CANCELLED)
    assert AckStage.PLAYED not in tap.stages(normal["id"])


async def test_cancel_reaches_scheduled_and_queued_items(start_agent, tap, signer):
    agent = await start_fast(start_agent)
    _, _, window = window_after(3600, 60)  # a window an hour away: untimed items wait
    prog = signer.build("set_program_schedule", target="all", ttl_s=60, windows=[window])
    await tap.publish(ALL, wire(prog))
    await tap.wait_stage(prog["id"], AckStage.PLAYED)
    timed = bulletin(signer, text="Hẹn giờ", bulletin_id="b-timed", play_at=in_s(60).isoformat())
    queued = bulletin(signer, text="Chờ chương trình", bulletin_id="b-queued")
    for cmd in (timed, queued):
        await tap.publish(ALL, wire(cmd))
    await tap.wait_stage(timed["id"], AckStage.SCHEDULED)
    await tap.wait_stage(queued["id"], AckStage.RENDERED)
    await wait_until(lambda: agent.player.queue_length == 1 and agent.scheduler.has("b-timed"), 10)
    for bid in ("b-timed", "b-queued"):
        await tap.publish(ALL, wire(signer.build("cancel", target="all", ttl_s=60, bulletin_id=bid)))
    await tap.wait_stage(timed["id"], AckStage.CANCELLED)
    await tap.wait_stage(queued["id"], AckStage.CANCELLED)
    await wait_until(lambda: agent.player.held() == [], 5, "cancelled bulletins forgotten")
    assert not agent.scheduler.has("b-timed") and agent.player.queue_length == 0


@pytest.mark.parametrize("play_in_s", [-1, 60], ids=["start passed", "start ahead"])
async def test_a_cancel_handled_while_a_timed_bulletin_is_admitted_stops_it(start_agent, tap, signer, play_in_s):
    """HQ resuming a stalled broadcast while a reconcile cancels the old copy: the cancel is handled while
    the node writes the bulletin's ``scheduled`` ack, and the admission resumes while the cancel is still
    writing its own ack. The bulletin was then queued and played after its ``cancelled`` ack; it must be
    neither queued nor scheduled."""
    agent = await start_fast(start_agent)
    cmd = bulletin(signer, text="Hủy khi đang nhận", bulletin_id="b-racing", play_at=in_s(play_in_s).isoformat())
    scheduled_held, release_scheduled, admitted = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ack, send, admit = agent.acks.ack, agent.acks.send, agent.player.admit

    async def held_scheduled_ack(command_id, stage, **kw):
        if command_id == cmd["id"] and stage == AckStage.SCHEDULED:
            scheduled_held.set()
            await release_scheduled.wait()
        return await ack(command_id, stage, **kw)

    async def cancelled_ack_after_the_admission(message, **kw):
        if message.command_id == cmd["id"] and message.stage == AckStage.CANCELLED:
            release_scheduled.set()
            await asyncio.wait_for(admitted.wait(), 20)
        return await send(message, **kw)

    async def admission(command, **kw):
        try:
            return await admit(command, **kw)
        finally:
            admitted.set()

    agent.acks.ack, agent.acks.send, agent.player.admit = (held_scheduled_ack, cancelled_ack_after_the_admission,
                                                            admission)
    await tap.publish(ALL, wire(cmd))
    await asyncio.wait_for(scheduled_held.wait(), 20)
    await tap.publish(ALL, wire(signer.build("cancel", target="all", ttl_s=60, bulletin_id="b-racing")))
    await tap.wait_stage(cmd["id"], AckStage.CANCELLED)
    after = bulletin(signer, text="Bản tin sau", bulletin_id="b-after")  # plays once the racing one is settled
    await tap.publish(ALL, wire(after))
    await tap.wait_stage(after["id"], AckStage.PLAYED, timeout=30)
    assert AckStage.PLAYING not in tap.stages(cmd["id"])
    assert "b-racing" not in agent.player.held() and not agent.scheduler.has("b-racing")


async def test_expired_items_are_reported_not_played(start_agent, tap, signer):
    agent = await start_fast(start_agent)
    late = bulletin(signer, text="Quá giờ", play_at=in_s(-30).isoformat())
    await tap.publish(ALL, wire(late))
    assert (await tap.wait_stage(late["id"], AckStage.EXPIRED)).reason == "missed_schedule"
    _, _, window = window_after(3600, 60)
    prog = signer.build("set_program_schedule", target="all", ttl_s=60, windows=[window])
    await tap.publish(ALL, wire(prog))
    await tap.wait_stage(prog["id"], AckStage.PLAYED)
    stale = bulletin(signer, text="Hết hạn khi chờ", ttl_s=2)
    await tap.publish(ALL, wire(stale))
    assert (await tap.wait_stage(stale["id"], AckStage.EXPIRED, timeout=15)).reason == "expired_in_queue"
    assert not list(Path(agent.config.audio.file_dir).glob("*.wav"))


async def test_duplicate_timed_bulletin_plays_once(start_agent, tap, signer):
    agent = await start_fast(start_agent)
    play_at = in_s(3).isoformat()
    first = bulletin(signer, text="Một lần", bulletin_id="b-once", play_at=play_at)
    again = bulletin(signer, text="Một lần", bulletin_id="b-once", play_at=play_at)
    await tap.publish(ALL, wire(first))
    await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire({**again}))
    await tap.wait_stage(first["id"], AckStage.PLAYED, timeout=20)
    await tap.publish(ALL, wire(again))  # a late QoS 1 redelivery of an already refused/handled id
    marker = bulletin(signer, text="Hết")
    await tap.publish(ALL, wire(marker))
    await tap.wait_stage(marker["id"], AckStage.PLAYED)
    assert len(list(Path(agent.config.audio.file_dir).glob("*b-once.wav"))) == 1


async def test_two_nodes_start_together_on_play_at(start_agent, tap, signer):
    a = await start_fast(start_agent, "loa-1")
    b = await start_fast(start_agent, "loa-2")
    play_at = in_s(4)
    cmd = bulletin(signer, text="Đồng loạt", target="zone:thon-1", play_at=play_at.isoformat())
    await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), wire(cmd))
    pa = await tap.wait_stage(cmd["id"], AckStage.PLAYED, node="loa-1")
    pb = await tap.wait_stage(cmd["id"], AckStage.PLAYED, node="loa-2")
    skew = abs((pa.started_at - pb.started_at).total_seconds())
    late = max((pa.started_at - play_at).total_seconds(), (pb.started_at - play_at).total_seconds())
    print(f"sync: skew {skew * 1000:.1f} ms, late {late * 1000:.1f} ms")
    assert skew < 0.020 and -0.001 < late < 0.050
    for agent in (a, b):  # each amplifier was warm when the audio started
        on_at = next(t for t, on in transitions(agent) if on)
        assert on_at <= play_at.timestamp() - FAST["amplifier__warmup_s"] + 0.01


async def test_broker_outage_loses_no_ack(start_agent, tap, signer, broker):
    agent = await start_fast(start_agent)
    cmd = bulletin(signer, text="Phát khi mất kết nối", play_at=in_s(3).isoformat())
    await tap.publish(ALL, wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.SCHEDULED)
    # the tap can see `scheduled` before the node has its PUBACK; stopping the broker in between would
    # make the node send it again after the outage (at-least-once), which is not what this test checks
    await wait_until(lambda: agent.acks.pending == 0, 10, "acks before the outage confirmed by the broker")
    broker.stop()
    await wait_until(lambda: not agent.link.connected, 15, "agent notices the outage")
    outbox = agent.config.state_dir / "outbox"
    await wait_until(lambda: len(list(outbox.glob("*-ack-off.json"))) >= 2, 20, "played offline, acks on disk")
    broker.start()
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=40)
    assert played.historical
    stages = tap.stages(cmd["id"])
    assert stages == [AckStage.RECEIVED, AckStage.RENDERED, AckStage.SCHEDULED, AckStage.PLAYING, AckStage.PLAYED]
    await wait_until(lambda: agent.acks.pending == 0, 10, "outbox drained")


async def _stream_server(mp3: bytes, drop_after: int) -> tuple[web.AppRunner, list[int]]:
    hits: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await resp.prepare(request)
        data = mp3[:drop_after] if len(hits) == 1 else mp3
        try:
            for i in range(0, len(data), 4096):
                await resp.write(data[i:i + 4096])
                await asyncio.sleep(0.02)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/live.mp3", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, hits


async def test_relay_stream_reconnects_and_stops_at_window_end(start_agent, tap, signer):
    mp3 = await asyncio.to_thread(tone, 30.0, "mp3", 330)
    runner, hits = await _stream_server(mp3, drop_after=len(mp3) // 20)  # first connection drops after ~1.5 s
    try:
        port = runner.addresses[0][1]
        agent = await start_fast(start_agent)
        end_at = in_s(6)
        cmd = bulletin(signer, kind="relay", text="", bulletin_id="b-relay",
                       relay={"url": f"http://127.0.0.1:{port}/live.mp3", "end_at": end_at.isoformat()})
        await tap.publish(ALL, wire(cmd))
        played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=20)
    finally:
        await runner.cleanup()
    assert len(hits) >= 2, "the relay reconnected after the drop"
    assert abs((played.ended_at - end_at).total_seconds()) < 0.3
    window = (end_at - played.started_at).total_seconds()
    # how much of the window is relayed depends on how fast ffmpeg restarts on this machine (a loaded
    # CI box: a third); what must hold is that audio was relayed, never more than the window
    assert 0 < played.duration_s <= window + 0.1, (played.duration_s, window)
    assert played.loudness_dbfs > -40
    assert "reconnect" in (played.detail or "")
    assert any(Path(agent.config.audio.file_dir).glob("*.relay.wav"))
    assert played.ended_at - played.started_at < timedelta(seconds=7)
