"""A reboot mid-schedule loses nothing: ``edge-agent run`` as a process, SIGKILLed and started again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from loaxa_contract import topics
from loaxa_contract.models import AckStage, utcnow
from tests.conftest import COMMUNE, REPO, bulletin, wait_until
from tests.integration.speaker_helpers import FAST, VN, in_s, local_hms, wire

pytestmark = pytest.mark.integration

ALL = topics.all_cmd(COMMUNE)
#: The node renders each bulletin before acking it: on a loaded machine that takes seconds.
ACKED_WITHIN_S = 20


def spawn(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config_path)],
                            cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})


def relay_log(state_dir: Path) -> list[bool]:
    path = state_dir / "relay.log"
    return [json.loads(line)["on"] for line in path.read_text().splitlines()] if path.exists() else []


async def wait_online(tap, signer, timeout: float = 30) -> None:
    """Ping until a pong: commands sent before the node's first subscription would be lost."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ping = signer.build("ping", target="node:loa-1", ttl_s=60)
        await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire(ping))
        try:
            await tap.wait_stage(ping["id"], AckStage.PONG, timeout=1)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise


async def test_sigkill_mid_schedule_loses_nothing(make_node_config, broker, tap, signer, tmp_path):
    # a grace that covers a slow restart on a loaded machine: the timed bulletin must play late, not expire
    cfg = make_node_config("loa-1", port=broker.port, **{**FAST, "schedule__misfire_grace_s": 60})
    config_path = tmp_path / "node.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True))
    log = tmp_path / "agent.log"
    proc = spawn(config_path, log)
    try:
        await wait_online(tap, signer)

        # The kill must come while everything is still ahead: each command is rendered before it is acked,
        # which takes seconds on a loaded machine, and a play that had already ended before the kill would
        # legitimately be reported again after it. So every time is set beyond the acks' deadline.
        t0 = in_s(0)
        lead = ACKED_WITHIN_S + 8
        window_start = (t0 + timedelta(seconds=lead + 1)).replace(microsecond=0)
        prog = signer.build("set_program_schedule", target="all", ttl_s=120, windows=[
            {"start": local_hms(window_start), "end": local_hms(t0 + timedelta(seconds=lead + 40))}])
        timed = bulletin(signer, text="Đúng giờ", bulletin_id="b-at",
                         play_at=(t0 + timedelta(seconds=lead)).isoformat())
        waiting = bulletin(signer, text="Chờ chương trình", bulletin_id="b-win")
        recurring = bulletin(signer, text="Hằng ngày", bulletin_id="b-rec",
                             recurrence={"kind": "daily", "at": local_hms(t0 + timedelta(seconds=lead + 3))})
        for cmd in (prog, timed, waiting, recurring):
            await tap.publish(ALL, wire(cmd))
        async with asyncio.timeout(ACKED_WITHIN_S):
            await asyncio.gather(tap.wait_stage(timed["id"], AckStage.SCHEDULED),
                                 tap.wait_stage(recurring["id"], AckStage.SCHEDULED),
                                 tap.wait_stage(waiting["id"], AckStage.RENDERED))

        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert in_s(0) < t0 + timedelta(seconds=lead - 2), "killed after the first play was due"
        assert not any(tap.stages(c["id"]).count(AckStage.PLAYING) for c in (timed, waiting, recurring))
        before = len(relay_log(cfg.state_dir))
        proc = spawn(config_path, log)

        for cmd in (timed, waiting, recurring):
            await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=lead + 40)
        at = next(a for a in tap.for_command(timed["id"]) if a.stage == AckStage.PLAYED)
        win = next(a for a in tap.for_command(waiting["id"]) if a.stage == AckStage.PLAYED)
        assert abs((at.started_at - in_s(0)).total_seconds()) < 60
        assert win.started_at >= window_start
        for cmd in (timed, waiting, recurring):
            acks = tap.for_command(cmd["id"])
            # an ack may reach the broker twice (sent again after a cut before its removal from the outbox):
            # one play is one (occurrence, start) pair, whatever the number of copies of its ack
            plays = {(a.occurrence, a.started_at) for a in acks if a.stage == AckStage.PLAYED}
            assert len(plays) == 1, [(a.stage.value, a.started_at, a.occurrence, a.historical) for a in acks]
            assert AckStage.INTERRUPTED not in tap.stages(cmd["id"])
        assert relay_log(cfg.state_dir)[before] is False  # switched off first thing after the crash
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert relay_log(cfg.state_dir)[-1] is False, log.read_text()[-2000:]
    played = list(Path(cfg.audio.file_dir).glob("*.wav"))
    assert sorted(p.name.split("_", 1)[1] for p in played) == ["b-at.wav", "b-rec.wav", "b-win.wav"]


async def test_command_cut_before_it_was_recorded_is_delivered_again_and_played(start_agent, tap, signer):
    """Power cut while a command is being handled: the broker was not acknowledged, so it re-sends
    the command to the next session, and the node does not take that for a replay."""
    agent = await start_agent("loa-1", **FAST)
    entered = asyncio.Event()

    async def dies_while_handling(command) -> None:
        entered.set()
        await asyncio.Event().wait()  # the power goes before this returns

    agent.dispatcher.handlers["bulletin"] = dies_while_handling
    cmd = bulletin(signer, text="Mất điện giữa chừng.")
    await tap.publish(ALL, wire(cmd))
    await asyncio.wait_for(entered.wait(), 20)
    await agent.link.kill()  # no DISCONNECT, no PUBACK: what a power cut leaves behind
    await agent.stop()

    restarted = await start_agent(config=agent.config)
    await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=40)
    assert AckStage.REJECTED not in tap.stages(cmd["id"])
    assert restarted.dispatcher.duplicates == 0


async def test_command_recorded_but_not_acknowledged_is_a_duplicate_not_a_replay(start_agent, tap, signer):
    """Power cut after the node recorded the command as seen but before its PUBACK left: the broker
    re-sends it; the node ignores the copy (no ``rejected`` ack) and plays the stored bulletin once."""
    agent = await start_agent("loa-1", **{**FAST, "schedule__misfire_grace_s": 120})
    agent.link._client.ack = lambda mid, qos: None  # the PUBACK never leaves the node
    cmd = bulletin(signer, text="Đã ghi nhận.", play_at=in_s(8).isoformat())
    await tap.publish(ALL, wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.SCHEDULED)
    await wait_until(lambda: cmd["id"] in agent.gate.replay.seen, 10, "command recorded as seen")
    await agent.link.kill()
    await agent.stop()

    restarted = await start_agent(config=agent.config)
    await wait_until(lambda: restarted.dispatcher.duplicates == 1, 20, "the re-sent copy ignored")
    await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)
    assert AckStage.REJECTED not in tap.stages(cmd["id"])
    assert tap.stages(cmd["id"]).count(AckStage.PLAYED) == 1


def play_log(config, event: str = "end") -> list[str]:
    """Files the file sink finished (``end``) or started (``start``), from its play.log."""
    log = Path(config.audio.file_dir) / "play.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split()[2] for line in lines if line.split()[1] == event]


def played_files(agent) -> list[str]:
    return play_log(agent.config)


async def power_cut(agent) -> None:
    """What a kill -9 leaves for the next start: no DISCONNECT, job store and state files as they are."""
    await agent.link.kill()
    await agent.stop()


async def test_timed_bulletin_due_while_down_plays_once_after_a_restart_within_grace(start_agent, tap, signer):
    """One owner: the restore queues it; the persisted job must not also fire late (it did: 5/5 twice)."""
    settings = {**FAST, "schedule__misfire_grace_s": 60}
    agent = await start_agent("loa-1", **settings)
    play_at = in_s(4)
    cmd = bulletin(signer, text="Đúng giờ sau khi mất điện.", bulletin_id="b-due", play_at=play_at.isoformat())
    await tap.publish(ALL, wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.SCHEDULED)
    await power_cut(agent)
    await wait_until(lambda: utcnow() > play_at + timedelta(seconds=0.5), 15, "play_at passed while down")

    restarted = await start_agent(config=agent.config)
    await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)
    await wait_until(lambda: restarted.player.store.get("b-due") is None and not restarted.player.queue_length
                     and restarted.player.playing is None, 30, "the node is done with the bulletin")
    assert tap.stages(cmd["id"]).count(AckStage.PLAYED) == 1
    assert [f for f in played_files(restarted) if f.endswith("b-due.wav")] != []
    assert len([f for f in played_files(restarted) if f.endswith("b-due.wav")]) == 1


MINUTE_TEXT = "Thông báo của Ủy ban nhân dân xã về lịch tiêm phòng cho đàn gia súc trong thôn. " * 3


async def test_sigkill_mid_play_is_reported_interrupted_then_replayed_once(make_node_config, broker, tap, signer,
                                                                          tmp_path):
    cfg = make_node_config("loa-1", port=broker.port, **FAST)
    config_path = tmp_path / "node.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True))
    log = tmp_path / "agent.log"
    proc = spawn(config_path, log)
    try:
        await wait_online(tap, signer)
        cmd = bulletin(signer, text=MINUTE_TEXT, bulletin_id="b-cut")
        await tap.publish(ALL, wire(cmd))
        playing = await tap.wait_stage(cmd["id"], AckStage.PLAYING, timeout=30)
        await wait_until(lambda: play_log(cfg, "start"), 10, "audio started")
        proc.send_signal(signal.SIGKILL)  # power cut in the middle of the bulletin
        proc.wait(10)
        assert play_log(cfg, "end") == []
        proc = spawn(config_path, log)

        cut = await tap.wait_stage(cmd["id"], AckStage.INTERRUPTED, timeout=30)
        assert cut.reason == "node_restarted" and abs((cut.started_at - playing.ts).total_seconds()) < 5
        played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=60)
        assert "after an interruption" in played.detail
        stages = tap.stages(cmd["id"])
        assert stages.index(AckStage.INTERRUPTED) < len(stages) - 1 - stages[::-1].index(AckStage.PLAYING)
        assert stages.count(AckStage.PLAYED) == 1
        assert [f.endswith("b-cut.wav") for f in play_log(cfg, "start")] == [True, True]  # cut, then whole
        assert len(play_log(cfg, "end")) == 1
        await wait_until(lambda: "restored at start-up" in log.read_text(), 10, "restore logged")
        assert "1 interrupted, replayed" in log.read_text()
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_occurrence_cut_mid_play_is_reported_and_replayed_not_left_playing(start_agent, tap, signer):
    agent = await start_agent("loa-1", **{**FAST, "schedule__misfire_grace_s": 60})
    cmd = bulletin(signer, text=MINUTE_TEXT, bulletin_id="b-series",
                   recurrence={"kind": "daily", "at": local_hms(in_s(3))})
    await tap.publish(ALL, wire(cmd))
    playing = await tap.wait_stage(cmd["id"], AckStage.PLAYING, timeout=30)
    assert playing.occurrence is not None
    await wait_until(lambda: play_log(agent.config, "start"), 10, "audio started")
    await power_cut(agent)

    await start_agent(config=agent.config)
    cut = await tap.wait_stage(cmd["id"], AckStage.INTERRUPTED, timeout=30)
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=60)
    assert cut.occurrence == playing.occurrence == played.occurrence  # HQ files all three under one day
    assert tap.stages(cmd["id"]).count(AckStage.PLAYED) == 1


@pytest.mark.parametrize("last", [False, True], ids=["open-ended", "last-occurrence"])
async def test_occurrence_due_behind_a_playing_bulletin_survives_a_power_cut(start_agent, tap, signer, last):
    """``last``: the series ends today, so after the restart it has no occurrence left to schedule — the one
    that fell due is still owed and must play, not be expired as ``no_future_occurrence``."""
    agent = await start_agent("loa-1", **{**FAST, "schedule__misfire_grace_s": 60})
    long = bulletin(signer, text=MINUTE_TEXT, bulletin_id="b-long")
    at = in_s(4)
    today = at.astimezone(VN).date().isoformat()
    series = bulletin(signer, text="Bản tin hằng ngày.", bulletin_id="b-daily", recurrence={
        "kind": "daily", "at": local_hms(at), **({"start_date": today, "end_date": today} if last else {})})
    await tap.publish(ALL, wire(long))
    await tap.publish(ALL, wire(series))
    await tap.wait_stage(long["id"], AckStage.PLAYING, timeout=30)
    await tap.wait_stage(series["id"], AckStage.SCHEDULED, timeout=30)
    await wait_until(lambda: any(i.bulletin_id == "b-daily" for i in agent.player.queue.items), 15,
                     "the occurrence fell due and waits behind the long bulletin")
    await power_cut(agent)

    await start_agent(config=agent.config)
    daily = await tap.wait_stage(series["id"], AckStage.PLAYED, timeout=60)
    replay = await tap.wait_stage(long["id"], AckStage.PLAYED, timeout=90)
    assert daily.occurrence is not None and daily.started_at < replay.started_at  # due first, plays first
    assert tap.stages(series["id"]).count(AckStage.PLAYED) == 1
    assert AckStage.EXPIRED not in tap.stages(series["id"])
    assert tap.stages(long["id"]).count(AckStage.INTERRUPTED) == 1


async def test_an_occurrence_does_not_wait_behind_a_bulletin_timed_later(start_agent, tap, signer):
    agent = await start_agent("loa-1", **{**FAST, "schedule__lead_s": 3.0})
    due = in_s(5).replace(microsecond=0)
    series = bulletin(signer, text="Hằng ngày.", bulletin_id="b-occ",
                      recurrence={"kind": "daily", "at": local_hms(due)})
    later = bulletin(signer, text="Hẹn giờ.", bulletin_id="b-later", play_at=(due + timedelta(seconds=2)).isoformat())
    await tap.publish(ALL, wire(series))
    await tap.publish(ALL, wire(later))
    occ = await tap.wait_stage(series["id"], AckStage.PLAYED, timeout=30)
    timed = await tap.wait_stage(later["id"], AckStage.PLAYED, timeout=30)
    assert occ.started_at < timed.started_at, (occ.started_at, timed.started_at)
    assert agent.player.queue_length == 0


async def test_a_cut_after_the_outcome_was_decided_never_replays_it(start_agent, tap, signer):
    """Power cut after ``played`` was decided but before the bulletin was finished on disk: the restart
    sends the same ``played`` again (a duplicate HQ ignores) and does not play it a second time."""
    agent = await start_agent("loa-1", **FAST)
    finishing = asyncio.Event()

    async def power_goes_before_finishing(bulletin_id: str, **_: object) -> None:
        finishing.set()
        await asyncio.Event().wait()

    agent.player.finish = power_goes_before_finishing
    cmd = bulletin(signer, text="Phát xong rồi mất điện.", bulletin_id="b-done")
    await tap.publish(ALL, wire(cmd))
    first = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)
    await asyncio.wait_for(finishing.wait(), 10)
    await power_cut(agent)

    restarted = await start_agent(config=agent.config)
    await wait_until(lambda: restarted.player.store.get("b-done") is None, 20, "finished after the restart")
    played = [a for a in tap.for_command(cmd["id"]) if a.stage == AckStage.PLAYED]
    assert {a.ts for a in played} == {first.ts}  # the same ack, perhaps twice: one play
    assert AckStage.INTERRUPTED not in tap.stages(cmd["id"])
    assert len([f for f in play_log(agent.config) if f.endswith("b-done.wav")]) == 1
