"""Power cuts of HQ *and* of the loudspeakers under traffic: many ``kill -9`` of a real ``hq-server run``
process (SQLite, the test Mosquitto) and of real ``edge-agent run`` processes while an operator keeps
sending bulletins through HQ's API. Judged from HQ's API once the storm settles: every bulletin HQ
accepted ends on every targeted node ``played`` exactly once or reported with a reason (failed / expired /
offline; an interrupted occurrence ends played or missed), HQ never says ``played`` for a node that did not
play it, no node played it twice, and nothing is left in a non-final state.

HQ is killed at three kinds of moment, picked at random: any time, right after it accepted a bulletin
(its dispatch runs off the request: the broadcast is left ``sending`` and resumed by the next HQ), and
right after a node's ack reached the broker (HQ has read it, maybe not recorded it: it acknowledges it to
the broker only after the commit, so the broker delivers it again to the next HQ). HQ runs against the
test broker, not its embedded one, so a kill leaves the broker and the nodes' sessions untouched.

Bounded for CI (2 nodes, ~45 s of traffic, ~5 HQ kills, ~8 node kills); ``LOAXA_KILL_PROFILE=long``
runs 3 nodes for 20 minutes. ``LOAXA_KILL_SEED`` replays a run (the seed is printed). What counts as a
play on a node, and the one physical window that may explain a second one, are as in
``test_kill_storm``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from loaxa_contract.models import utcnow
from tests.conftest import run_together, wait_until
from tests.hq.fixtures import wait_async
from tests.integration.hq_process import HqProcess, api, seed
from tests.integration.speaker_helpers import VN, in_s, local_hms
from tests.integration.test_kill_storm import LONG, TEXTS, Node, node_config, online, power_cuts

pytestmark = pytest.mark.integration

NODES = 3 if LONG else 2
TRAFFIC_S = 1200.0 if LONG else 45.0
HQ_KILL_GAP_S = (4.0, 9.0)
MIN_HQ_KILLS = 3 if not LONG else 100
HQ_DOWN_S = (0.2, 2.0)
MODES = ("any time", "mid-dispatch", "after a node acked")
FINAL = {"played", "failed", "expired", "offline", "cancelled"}
FINAL_BULLETIN = {"completed", "expired", "failed", "cancelled"}
FINAL_OCCURRENCE = {"played", "missed"}


@dataclass
class Hq:
    """The HQ process under test, its API token and what it said while being killed."""

    proc: HqProcess
    token: str
    accepted: list[str] = field(default_factory=list)  # bulletin ids answered 201
    kills: list[tuple[str, datetime]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return await api(self.proc.url, self.token, method, path, **kw)

    async def post(self, body: dict[str, Any]) -> str | None:
        """The new bulletin's id, or None when HQ was down or died answering (it may still have it)."""
        try:
            status, resp = await self.call("POST", "/api/v1/bulletins", json=body)
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.stats["POST while HQ down or dying"] += 1
            return None
        assert status == 201, resp
        self.accepted.append(resp["bulletin"]["id"])
        return resp["bulletin"]["id"]

    async def kill_and_restart(self, mode: str, rng: random.Random) -> None:
        self.proc.kill(signal.SIGKILL)
        self.proc.wait_exit()
        self.kills.append((mode, utcnow()))
        await asyncio.sleep(rng.uniform(*HQ_DOWN_S))  # the power stays off a moment
        self.proc.start()
        await self.proc.wait_ready(120)


async def start_village(make_node_config, broker, hq_keys, tmp_path, count: int) -> tuple[list[Node], Hq]:
    """``count`` edge agents in one village and an HQ process (SQLite, the test broker), all started."""
    nodes = [node_config(make_node_config, broker, tmp_path, f"loa-{i}") for i in range(1, count + 1)]
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'hq.sqlite3'}"
    hq = Hq(HqProcess(tmp_path / "hq", broker, hq_keys[0], db_url), await seed(db_url, {
        n.node_id: "thon-1" for n in nodes}))
    hq.proc.start()
    for node in nodes:
        node.start()
    return nodes, hq


def bulletin_body(rng: random.Random, n: int) -> dict[str, Any]:
    """Mixed traffic: timed, priority, emergency, plain."""
    body: dict[str, Any] = {"title": f"storm {n}", "text": rng.choice(TEXTS), "targets": {"all": True}}
    kind = rng.random()
    if kind < 0.2:
        body["send_at"] = in_s(rng.uniform(2, 6)).isoformat()
    elif kind < 0.3:
        body["priority"] = "priority"
    elif kind < 0.38:
        body["priority"] = "emergency"
    return body


def series_body(at_s: float, lasts_s: float) -> dict[str, Any]:
    """A daily series ending today: one occurrence ``at_s`` from now, finished at HQ ``lasts_s`` later."""
    at = in_s(at_s)
    today = at.astimezone(VN).date().isoformat()
    return {"title": "series", "text": "Bản tin hằng ngày của xã.", "targets": {"all": True},
            "recurrence": {"kind": "daily", "at": local_hms(at), "start_date": today, "end_date": today},
            "expires_at": (at + timedelta(seconds=lasts_s)).isoformat()}


async def traffic(hq: Hq, rng: random.Random, until: float) -> None:
    loop = asyncio.get_running_loop()
    n = 0
    while loop.time() < until:
        n += 1
        await hq.post(bulletin_body(rng, n))
        await asyncio.sleep(rng.uniform(1.0, 2.5))


async def hq_cuts(hq: Hq, tap, rng: random.Random, until: float) -> None:
    """Kill HQ at random moments, some chosen to hurt: mid-dispatch, right after a node acked. On a machine
    so loaded that HQ restarts slowly, the storm goes on (up to twice its length) until HQ was killed the
    least number of times the test counts on."""
    loop = asyncio.get_running_loop()
    while loop.time() < until or (len(hq.kills) < MIN_HQ_KILLS and loop.time() < until + TRAFFIC_S):
        await asyncio.sleep(rng.uniform(*HQ_KILL_GAP_S))
        mode = rng.choice(MODES)
        if mode == "mid-dispatch":
            if await hq.post(bulletin_body(rng, 10_000 + len(hq.kills))) is None:
                mode = "any time"
            await asyncio.sleep(rng.uniform(0, 0.06))  # rendering + publishing take tens of ms
        elif mode == "after a node acked":
            seen, deadline = len(tap.acks), loop.time() + 15
            while len(tap.acks) == seen and loop.time() < deadline:  # bounded: traffic keeps nodes acking
                await asyncio.sleep(0.01)
        await hq.kill_and_restart(mode, rng)


async def settled(hq: Hq) -> list[dict[str, Any]]:
    """Every bulletin HQ holds, once none is in a non-final state (else [])."""
    await asyncio.sleep(0.5)  # poll interval: each poll is a few API calls on a loaded machine
    try:
        status, body = await hq.call("GET", "/api/v1/bulletins?limit=1000")
    except (aiohttp.ClientError, OSError):
        return []
    assert status == 200, body
    return body["bulletins"] if all(b["state"] in FINAL_BULLETIN for b in body["bulletins"]) else []


def window_cuts(node: Node, ends: list[datetime]) -> int:
    """Kills of the node within 0.5 s after a completed play: the one window for a second play."""
    return len([k for k in node.kills for e in ends if e <= k <= e + timedelta(seconds=0.5)])


async def check_bulletin(hq: Hq, b: dict[str, Any], nodes: list[Node], stats: Counter[str]) -> None:
    _, body = await hq.call("GET", f"/api/v1/bulletins/{b['id']}/deliveries")
    deliveries = {d["node"]: d for d in body["deliveries"]}
    assert sorted(deliveries) == sorted(n.node_id for n in nodes), (b["id"], body)
    occurrences: dict[str, list[dict[str, Any]]] = {}
    if b["recurrence"]:
        _, occ = await hq.call("GET", f"/api/v1/bulletins/{b['id']}/occurrences")
        for o in occ["occurrences"]:
            occurrences.setdefault(o["node"], []).append(o)
    for node in nodes:
        d, ends = deliveries[node.node_id], node.completed().get(b["id"], [])
        where = (node.node_id, b["id"], b["title"], d, ends, node.kills)
        cuts = window_cuts(node, ends)
        stats["cut after the audio ended, before it was journalled"] += cuts
        assert d["state"] in FINAL, where
        assert len(ends) <= 1 + window_cuts(node, ends[:-1]), where  # never played twice
        if b["recurrence"]:
            for o in occurrences.get(node.node_id, []):
                assert o["state"] in FINAL_OCCURRENCE and (o["state"] == "played" or o["reason"]), (where, o)
                assert o["state"] != "played" or ends, (where, o)  # HQ says played: the node played it
                stats[f"occurrence {o['state']}"] += 1
        if d["state"] == "played":
            assert ends, where  # HQ never says played for a node that did not play it
            stats["played" + (f" ({d['reason']})" if d["reason"] else "")] += 1
        else:
            assert d["reason"], where
            assert not ends or cuts, where  # a completed play HQ does not know about is a lost ack
            stats[f"reported {d['state']} ({d['reason']})"] += 1


async def test_hq_and_nodes_killed_under_traffic_play_once_or_report(make_node_config, broker, tap, signer,
                                                                      hq_keys, tmp_path):
    seed_ = int(os.environ.get("LOAXA_KILL_SEED") or random.randrange(1 << 30))
    print(f"HQ kill storm: seed {seed_}, {NODES} nodes, {TRAFFIC_S:.0f}s of traffic")
    rng = random.Random(seed_)
    nodes, hq = await start_village(make_node_config, broker, hq_keys, tmp_path, NODES)
    try:
        await hq.proc.wait_ready(120)
        for node in nodes:
            await online(tap, signer, node.node_id)
        series_at = min(15.0, TRAFFIC_S * 0.3)
        assert await hq.post(series_body(series_at, 60)) is not None
        until = asyncio.get_running_loop().time() + TRAFFIC_S
        await run_together(traffic(hq, rng, until), hq_cuts(hq, tap, rng, until), power_cuts(nodes, rng, until))
        for node in nodes:
            await online(tap, signer, node.node_id)
        final: list[dict[str, Any]] = []

        async def all_final() -> bool:
            final[:] = await settled(hq)
            return bool(final)

        await wait_async(all_final, 300 if not LONG else 900, "every bulletin in a final state at HQ")
        known = {b["id"] for b in final}
        assert set(hq.accepted) <= known, set(hq.accepted) - known  # nothing HQ accepted was lost
        stats = hq.stats
        for b in final:
            stats[f"bulletin {b['state']}"] += 1
            await check_bulletin(hq, b, nodes, stats)
    finally:
        for node in nodes:
            node.stop()
        hq.proc.stop()
    node_kills = sum(len(n.kills) for n in nodes)
    stats["broadcast left 'sending', resumed"] = sum(log.read_text(errors="replace").count("was left sending")
                                                     for log in hq.proc.root.glob("hq-*.log"))
    print(f"HQ kill storm: {len(hq.kills)} HQ kills {dict(Counter(m for m, _ in hq.kills))}, {node_kills} node "
          f"kills, {len(final)} bulletins ({len(hq.accepted)} answered 201) x {NODES} nodes: {dict(stats)}")
    assert len(hq.kills) >= MIN_HQ_KILLS and node_kills >= (4 if not LONG else 100)


@pytest.mark.parametrize("cut", ["HQ killed", "publish timed out"])
async def test_a_broadcast_left_sending_is_resumed_and_every_node_plays_once(cut, make_node_config, broker, tap,
                                                                              signer, hq_keys, tmp_path):
    """The moment the storm rarely hits (``sending`` lasts ~20 ms): the broker stalls (SIGSTOP) while HQ
    publishes, so the broadcast is held ``sending``. Then either HQ is killed there (the next HQ resumes it
    from its log), or HQ's publish times out (HQ resumes it at its next pass, under new command ids, while
    the stalled commands are still in the broker's socket). Whichever of the old and new commands reach a
    node, it plays the bulletin once, and HQ records exactly that."""
    nodes, hq = await start_village(make_node_config, broker, hq_keys, tmp_path, 2)

    def hq_log() -> str:
        return "".join(log.read_text(errors="replace") for log in hq.proc.root.glob("hq-*.log"))

    try:
        await hq.proc.wait_ready(120)
        for node in nodes:
            await online(tap, signer, node.node_id)
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            bid = await hq.post({"title": "sending", "text": TEXTS[0], "targets": {"all": True}})
            assert bid is not None

            async def sending() -> bool:
                return (await hq.call("GET", f"/api/v1/bulletins/{bid}"))[1]["bulletin"]["state"] == "sending"

            await wait_async(sending, 60, "the broadcast held 'sending' by the stalled broker")
            if cut == "HQ killed":
                hq.proc.kill(signal.SIGKILL)
                hq.proc.wait_exit()
            else:
                await wait_until(lambda: f"bulletin {bid}: " in hq_log() and "not taken by the broker" in hq_log(),
                                 90, "HQ's publish timing out")
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        if cut == "HQ killed":
            hq.proc.start()
            await hq.proc.wait_ready(120)
        final: dict[str, Any] = {}

        async def ended() -> bool:
            final.update((await hq.call("GET", f"/api/v1/bulletins/{bid}"))[1]["bulletin"])
            return final["state"] in FINAL_BULLETIN

        await wait_async(ended, 180, "the resumed broadcast in a final state")
        assert final["state"] == "completed", final
        stats: Counter[str] = Counter()
        await check_bulletin(hq, final, nodes, stats)
        assert stats["played"] == len(nodes), stats  # each node played it, once (checked above), HQ knows
    finally:
        for node in nodes:
            node.stop()
        hq.proc.stop()
    assert f"bulletin {bid} was left sending" in hq_log()  # resumed from HQ's log, not sent afresh
    acked = {a.command_id for a in tap.acks if a.bulletin_id == bid}
    print(f"{cut}: nodes acked {len(acked)} command id(s) of {bid} (2: the stalled one went out too); "
          f"{dict(stats)}")
