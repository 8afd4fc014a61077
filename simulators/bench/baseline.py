"""The bare-broker round trip LoaXa is compared with.

The same broker configuration (``loaxa_link.mosquitto``, the same credential store and ACL), the same
client library (``MqttLink`` over paho), the same worker processes and logins and subscriptions as the
simulated nodes: one message (a real signed bulletin, same size) is published on the commune topic,
and each of the N clients answers with one ``received``-sized ack on its own ack topic, doing nothing
else. Whatever LoaXa adds on top of this is HQ's and the nodes' own work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import psutil

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto
from simulators.bench.stats import summarise
from simulators.bench.tap import Tap, first_by_node
from simulators.fleet import Fleet, FleetProgress
from simulators.nodes import SimulatedLogins

logger = logging.getLogger(__name__)


async def _round(tap: Tap, fleet: Fleet, payload: bytes, commune: str, timeout_s: float) -> dict[str, Any]:
    tap.clear()
    await fleet.probe_reset()
    assert tap.link is not None
    t0 = time.time()
    await tap.link.publish(topics.all_cmd(commune), payload)
    deadline = time.monotonic() + timeout_s
    answered: set[str] = set()
    read = 0
    while len(answered) < fleet.total:  # arrival stamps are taken by the tap: polling here costs no accuracy
        answered.update(a.topic for a in tap.arrivals[read:])
        read = len(tap.arrivals)
        if time.monotonic() > deadline:
            raise TimeoutError(f"baseline: {len(answered)}/{fleet.total} answers after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
    replies = first_by_node(tap.acks(), frozenset({AckStage.RECEIVED}))
    got = await fleet.probe()
    seen = {node: at for node, (at, _) in replies.items()}
    stamped = {node: ack.ts.timestamp() for node, (_, ack) in replies.items()}
    return {
        "round_trip": summarise(t - t0 for t in seen.values()),
        "legs": {
            "broker_out": summarise(got[n] - t0 for n in got),
            "node": summarise(stamped[n] - got[n] for n in stamped if n in got),
            "broker_back": summarise(seen[n] - stamped[n] for n in seen),
        },
    }


async def bare_round_trip(work_dir: Path, store: CredentialStore, logins: SimulatedLogins, *, nodes: int, zones: int,
                          per_process: int, payload: bytes, timeout_s: float,
                          progress: Any = None) -> dict[str, Any]:
    """Start a broker like HQ's and N echo clients; one warm-up round, one measured round."""
    broker = Mosquitto(work_dir / "broker", store)
    await asyncio.to_thread(broker.start)
    fleet = Fleet(work_dir / "fleet", store.commune, broker.port, work_dir / "unused.pub", logins, nodes=nodes,
                  zones=zones, per_process=per_process, mode="echo")
    user, password = store.hq_login()
    tap = Tap("127.0.0.1", broker.port, store.commune, user, password, client_id="loaxa-bench-baseline",
              commands=False)
    try:
        await fleet.start(progress)
        await tap.start()
        await _round(tap, fleet, payload, store.commune, timeout_s)  # warm-up: first-message costs
        assert broker.proc is not None
        bproc = psutil.Process(broker.proc.pid)
        cpu0 = bproc.cpu_times()
        result = await _round(tap, fleet, payload, store.commune, timeout_s)
        cpu1 = bproc.cpu_times()
        result["broker_cpu_s"] = round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 3)
        result["processes"] = len(fleet.workers)
        return result
    finally:
        await tap.stop()
        await fleet.stop()
        await asyncio.to_thread(broker.stop)


def describe(progress: FleetProgress) -> str:
    return f"baseline: {progress.online}/{progress.total} clients connected"
