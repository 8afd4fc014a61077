"""Edge agent lifecycle: stops that always finish, relay off whatever fails, supervised workers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edge_agent.device.health import CachedReading
from edge_agent.playback.amplifier import Amplifier
from loaxa_common.lifecycle import StopErrors
from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin, wait_until
from tests.integration.speaker_helpers import FAST, wire


async def finishes(coro, timeout: float = 15.0) -> bool:
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if done:
        task.result()
    return bool(done)


async def test_player_stops_even_when_woken_as_it_is_cancelled(start_agent):
    """Python 3.11's wait_for drops a cancel that lands as the awaited event fires: stop hung forever."""
    agent = await start_agent("loa-1", **FAST)
    agent.player._wake.set()  # e.g. the programme loop or a new bulletin, in the same iteration as stop
    assert await finishes(agent.player.stop()), "player.stop() hung: its worker swallowed the cancellation"


async def test_a_failing_stop_step_stops_the_rest_and_switches_the_relay_off(start_agent):
    agent = await start_agent("loa-1", **FAST)
    await agent.amplifier.acquire("test", warmup=False)
    assert agent.relay_backend.transitions[-1][1] is True
    shutdown = agent.scheduler.scheduler.shutdown

    def broken(*args, **kwargs):
        raise RuntimeError("job store on a failing SD card")

    agent.scheduler.scheduler.shutdown = broken
    try:
        with pytest.raises(StopErrors) as err:
            await agent.stop()
        assert "job store" in str(err.value)
        assert agent.relay_backend.transitions[-1][1] is False  # relay OFF although a step failed
        assert not agent.link.connected  # the other steps ran
        assert not agent.player._workers[0].running
    finally:
        shutdown(wait=False)


async def test_a_crashed_player_worker_is_restarted_and_reported(start_agent, tap, signer):
    agent = await start_agent("loa-1", **FAST)
    real = agent.player.queue.next_ready
    crashes = []

    def crash_once(now, programme):
        if not crashes:
            crashes.append(now)
            raise RuntimeError("bug in the queue")
        return real(now, programme)

    agent.player.queue.next_ready = crash_once
    await wait_until(lambda: crashes, 10, "the worker ran into the bug")
    await wait_until(lambda: "worker_restarted:player" in agent.problems, 10, "crash reported")
    assert agent.health().problems["worker_restarted:player"].startswith("RuntimeError: bug in the queue")
    cmd = bulletin(signer, text="Vẫn phát sau sự cố.")
    await tap.publish(topics.all_cmd(COMMUNE), wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=30)


async def test_the_relay_is_switched_off_the_event_loop():
    threads: list[int] = []

    class Backend:
        name = "probe"

        def set(self, on: bool) -> None:
            threads.append(threading.get_ident())

        def check(self) -> tuple[bool, str]:
            return True, "probe"

    amp = Amplifier(Backend(), warmup_s=0, hold_s=0)
    await amp.acquire("x")
    amp.release("x")
    await wait_until(lambda: amp.on is False, 5, "relay off")
    assert len(threads) == 2 and threading.get_ident() not in threads  # gpioset must not block the loop


async def test_the_health_report_at_connect_does_not_block_the_event_loop(start_agent):
    """The clock reading runs a subprocess (chronyc/timedatectl, up to its 3 s timeout): made on the event
    loop at every reconnect, it held back everything else, a synchronised start included."""
    agent = await start_agent("loa-1", **FAST)
    loop_ran = threading.Event()
    waited: list[bool] = []

    def slow_clock_reading() -> tuple[float | None, str]:
        waited.append(loop_ran.wait(10))  # only set if the loop keeps running while this blocks
        return None, "test: slow clock reading"

    # a new reading (ttl 0: read at every report), not the running one: a periodic report already in its
    # thread would otherwise mark the old reading fresh and this one would never be called
    agent._clock_offset = CachedReading(slow_clock_reading, 0)
    asyncio.get_running_loop().call_soon(loop_ran.set)
    await agent._on_connected(True)
    assert waited and all(waited), "the clock was read on the event loop thread"
