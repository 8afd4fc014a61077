"""A timed bulletin's audio is ready before its start: rendered at admission, not in the start's lead.

Real agent, real Mosquitto, real espeak-ng; only the board's speed is simulated (a renderer that takes
longer than the node's ``lead_s``, as a long recording on a Raspberry Pi can).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin, wait_until
from tests.integration.speaker_helpers import FAST, in_s, wire

pytestmark = pytest.mark.integration

ALL = topics.all_cmd(COMMUNE)
SLOW_RENDER_S = 1.6  # longer than FAST's lead_s (1.0): rendering in the lead would start late


def slow_board(agent, seconds: float) -> list[float]:
    """Every final render takes ``seconds`` longer (in the worker thread, as real work would); returns
    the moments renders finished."""
    renderer, finished = agent.renderer, []
    original = renderer.render_described

    def slow(cmd, volume):
        time.sleep(seconds)
        out = original(cmd, volume)
        finished.append(time.time())
        return out

    renderer.render_described = slow
    return finished


def ready_files(agent) -> list[Path]:
    return list(agent.player.ready.directory.glob("*.wav"))


async def test_slow_rendering_is_done_at_admission_and_the_start_is_on_time(start_agent, tap, signer):
    agent = await start_agent("loa-1", **FAST)
    finished = slow_board(agent, SLOW_RENDER_S)
    play_at = in_s(5)
    cmd = bulletin(signer, text="Đúng giờ", play_at=play_at.isoformat())
    await tap.publish(ALL, wire(cmd))
    rendered = await tap.wait_stage(cmd["id"], AckStage.RENDERED, timeout=20)
    assert rendered.ts < play_at and ready_files(agent), "the WAV is on disk before the start"
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)
    late = (played.started_at - play_at).total_seconds()
    print(f"start after play_at: {late * 1000:.1f} ms; rendered {play_at.timestamp() - finished[0]:.2f} s ahead")
    assert -0.001 < late < 0.050
    assert "started on time" in (played.detail or "")
    assert finished and finished[0] < play_at.timestamp() - FAST["schedule__lead_s"]
    assert len(finished) == 1, "rendered once, not again at the start"
    # the bulletin is finished (its WAV removed) right after the played ack is sent
    await wait_until(lambda: not ready_files(agent), 10, "the rendered WAV removed with the finished bulletin")


async def test_a_command_that_arrives_after_its_start_plays_late_and_says_so(start_agent, tap, signer):
    await start_agent("loa-1", **FAST)
    play_at = in_s(-1.0)  # within misfire_grace_s (3 s): late, not missed
    cmd = bulletin(signer, text="Muộn", play_at=play_at.isoformat())
    await tap.publish(ALL, wire(cmd))
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=20)
    late_ms = (played.started_at - play_at).total_seconds() * 1000
    assert late_ms > 1000
    assert f"started {round(late_ms)} ms late" in (played.detail or "") or "ms late" in (played.detail or "")


async def test_a_volume_change_after_admission_renders_again_at_the_start(start_agent, tap, signer):
    agent = await start_agent("loa-1", **FAST)
    play_at = in_s(4)
    cmd = bulletin(signer, text="Âm lượng", play_at=play_at.isoformat())
    await tap.publish(ALL, wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.SCHEDULED, timeout=20)
    loud = ready_files(agent)
    assert len(loud) == 1 and loud[0].name.endswith("~v100.wav")
    vol = signer.build("set_volume", target="node:loa-1", ttl_s=60, volume=50)
    await tap.publish(topics.node_cmd(COMMUNE, "loa-1"), wire(vol))
    await tap.wait_stage(vol["id"], AckStage.PLAYED, timeout=20)
    played = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=20)
    assert played.loudness_dbfs is not None and played.loudness_dbfs < -19  # −16 dBFS target − 6 dB
    assert (played.started_at - play_at).total_seconds() < 0.2
