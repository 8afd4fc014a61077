"""The live-view hub without a network: when a view ends (pure), frames fanned out to viewers, 410 after the end."""

from __future__ import annotations

import asyncio

import pytest

from hq_server.services import live_view as lv


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def session(clock: Clock, hub: lv.LiveHub) -> lv.LiveSession:
    return hub.open("cam", "node-1", "police-1", max_s=180, idle_s=30, width=320, fps=2, quality=60)[0]


def test_end_reasons() -> None:
    clock = Clock()
    hub = lv.LiveHub(clock)
    s = session(clock, hub)
    assert lv.end_reason(s, clock.t + 5) is None
    assert lv.end_reason(s, clock.t + lv.START_S) == lv.NO_START  # the node never sent a frame
    s.frame_no, s.viewers = 3, 1
    assert lv.end_reason(s, clock.t + 179) is None
    assert lv.end_reason(s, clock.t + 180) == lv.TIME_UP  # a few minutes, whatever happens
    s.viewers, s.viewer_left_at = 0, clock.t + 60
    assert lv.end_reason(s, clock.t + 60 + 29) is None and lv.end_reason(s, clock.t + 90) == lv.IDLE
    s.viewer_left_at = None  # asked for, never watched
    assert lv.end_reason(s, clock.t + lv.START_S + 30) == lv.IDLE
    assert lv.looks_like_jpeg(b"\xff\xd8\xff\xe0xx\xff\xd9") and not lv.looks_like_jpeg(b"\xff\xd8\xff\xe0xx")


async def test_frames_fan_out_and_the_node_is_told_to_stop() -> None:
    clock = Clock()
    hub = lv.LiveHub(clock)
    s, token = hub.open("cam", "node-1", "police-1", max_s=180, idle_s=30, width=320, fps=2, quality=60)
    assert hub.by_token(token) is s and hub.running_for("cam") is s
    with pytest.raises(lv.LiveError) as err:
        hub.by_token("guess")
    assert err.value.status == 401

    async def watch() -> list[bytes]:
        return [f async for f in hub.frames(s)]

    viewers = [asyncio.create_task(watch()) for _ in range(2)]
    await asyncio.sleep(0)
    assert s.viewers == 2
    for i in range(3):
        await hub.push(s, b"\xff\xd8\xff" + bytes([i]) + b"\xff\xd9")
        await asyncio.sleep(0)
    await hub.end(s, lv.STOPPED, "by police-1")
    got = await asyncio.gather(*viewers)
    assert got[0] == got[1] and got[0][-1][3] == 2 and len(got[0]) >= 1  # newest frame last, none invented
    assert s.viewers == 0 and s.state == "ended" and hub.running_for("cam") is None
    with pytest.raises(lv.LiveError) as err:
        await hub.push(s, b"\xff\xd8\xff\xff\xd9")
    assert err.value.status == 410  # the node's next frame is refused: it stops
    clock.t += lv.ENDED_KEEP_S + 1
    await hub.sweep()
    assert s.id not in hub.sessions
