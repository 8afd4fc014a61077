"""``loaxa-sim bench fanout``: one bulletin to every village of an N-node fleet, beside the bare broker.

In one invocation, on one machine:

1. **Baseline** (:mod:`simulators.bench.baseline`): the bare-broker round trip with the same client
   library, broker configuration, logins and worker processes.
2. **LoaXa end to end**: a real HQ (``hq-server run``: its embedded Mosquitto, SQLite or PostgreSQL)
   and the fleet (:mod:`simulators.fleet`: real edge agents, null sink). A bulletin goes in through
   ``POST /api/v1/bulletins`` to all villages; the benchmark's tap on the broker times every node's
   ``received`` and ``played`` ack, HQ's CPU and memory are sampled, its ``/metrics`` polled.

Every time is ``time.time()`` on this machine (one clock for every process), so per node the way from
submit to ``received`` splits into HQ, broker and node legs (:func:`simulators.bench.stats.split_legs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from hq_server.broker import broker_dir, credential_store
from hq_server.signer import CommandSigner
from loaxa_contract import signing, topics
from loaxa_contract.models import AckStage
from simulators.bench import stats
from simulators.bench.baseline import bare_round_trip
from simulators.bench.hq_proc import HqProcess
from simulators.bench.pg import TempPostgres
from simulators.bench.tap import TERMINAL, Counting, Tap, first_by_node
from simulators.fleet import Fleet, FleetProgress
from simulators.fleet_plan import MAX_PER_PROCESS, plan_nodes, zone_of
from simulators.nodes import SimulatedLogins

logger = logging.getLogger(__name__)

COMMUNE = "xa-bench"
BENCH_TEXT = "Loa truyền thanh xã xin thông báo: kiểm tra hệ thống loa toàn xã."
INGESTED = "loaxa_hq_acks_ingested_total"
QUEUE = "loaxa_hq_inbound_queue_depth"
ONLINE = "loaxa_hq_nodes_online"

Say = Callable[[str], None]


@dataclass
class FanoutOptions:
    nodes: int
    zones: int = 20
    per_process: int = MAX_PER_PROCESS
    database_url: str | None = None
    postgres: bool = False
    """Start a throw-away PostgreSQL server for HQ (else SQLite, or ``database_url``)."""
    text: str = BENCH_TEXT
    timeout_s: float | None = None
    """For every node to finish and HQ to close the bulletin; default grows with N (HQ may ingest slowly)."""
    baseline: bool = True
    work_dir: Path | None = None
    keep: bool = False
    hq_settings: dict[str, Any] = field(default_factory=dict)
    node_settings: dict[str, Any] = field(default_factory=dict)
    """Config overrides for every simulated node, ``section__field`` keys (``schedule__lead_s``)."""
    settle_queue: int = 0
    """Broadcast once HQ's inbound queue holds at most this many messages (a large fleet's steady health
    traffic may never leave it empty); the queue at submit time is reported."""

    @property
    def wait_s(self) -> float:
        return self.timeout_s or max(600.0, self.nodes * 0.6)


@dataclass
class Sampler:
    """Peak RSS of a process, sampled every ``every_s`` while a phase runs."""

    proc: psutil.Process
    every_s: float = 0.25
    peak: int = 0
    task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="bench:rss")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


async def cpu_snapshot(hq: psutil.Process, broker: psutil.Process | None, fleet: Fleet) -> tuple[float, ...]:
    """CPU seconds so far of HQ, its broker, the fleet's workers (together) and this process (the tap)."""
    return cpu_s(hq), cpu_s(broker), sum(s["cpu_s"] for s in await fleet.stats()), cpu_s(psutil.Process())


def baseline_payload(key_path: Path, seq_dir: Path, text: str) -> bytes:
    """A signed bulletin of the same shape and size as HQ's (the baseline clients do not verify it)."""
    import json

    wire = CommandSigner(key_path, seq_dir).build(
        "bulletin", target="all", ttl_s=600, bulletin_id="baseline000", title="Kiểm tra", kind="text", text=text,
        priority="normal", status="actual", repeat=1, chime=False, play_at=datetime.now().astimezone().isoformat(),
        audio={"sha256": "0" * 64, "url": "http://127.0.0.1:8080/audio/" + "0" * 64, "duration_s": 4.2})
    return json.dumps(wire).encode()


async def wait_hq_settled(hq: HqProcess, http: aiohttp.ClientSession, nodes: int, say: Say,
                          timeout_s: float, queue_max: int = 0) -> float:
    """Until HQ lists every node online and its inbound queue holds at most ``queue_max`` messages twice in
    a row; seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    last_say = 0.0
    while True:
        m = await hq.metrics(http)
        online, queued = int(m.get(ONLINE, 0)), int(m.get(QUEUE, 0))
        quiet = quiet + 1 if online >= nodes and queued <= queue_max else 0
        if quiet >= 2:
            return time.monotonic() - t0
        if time.monotonic() - last_say > 5:
            say(f"HQ: {online}/{nodes} nodes online, {queued} inbound messages queued")
            last_say = time.monotonic()
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"HQ sees {online}/{nodes} nodes online, {queued} queued, after {timeout_s:.0f} s")
        await asyncio.sleep(1.0)


async def submit(hq: HqProcess, http: aiohttp.ClientSession, text: str, zones: list[str]) -> tuple[dict[str, Any],
                                                                                                    float, float]:
    t_submit = time.time()
    async with http.post(f"{hq.base_url}/api/v1/bulletins", headers=hq.headers(), json={
            "title": "Kiểm tra loa", "text": text, "targets": {"zones": zones}}) as resp:
        body = await resp.json()
        t_post = time.time()
        if resp.status != 201:
            raise RuntimeError(f"HQ refused the bulletin ({resp.status}): {body}")
    return body["bulletin"], t_submit, t_post


@dataclass
class Watch:
    """What the run saw while waiting: tap counts, HQ's ingestion counter over time, completion."""

    t_all_received: float | None = None
    fleet_cpu_at_received: float | None = None
    t_completed: float | None = None
    ingested: list[tuple[float, float]] = field(default_factory=list)
    queue_peak: int = 0


async def watch(hq: HqProcess, http: aiohttp.ClientSession, fleet: Fleet, counting: Counting, bid: str,
                nodes: int, timeout_s: float, say: Say, ingested0: tuple[float, float]) -> Watch:
    w = Watch(ingested=[ingested0])
    t0 = time.monotonic()
    last_say = 0.0
    while True:
        counting.update(bid)
        received, done = len(counting.nodes["received"]), len(counting.nodes["terminal"])
        if w.t_all_received is None and received >= nodes:
            w.t_all_received = time.time()
            w.fleet_cpu_at_received = sum(s["cpu_s"] for s in await fleet.stats())
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            m = await hq.metrics(http)
            w.ingested.append((time.time(), m.get(INGESTED, 0.0)))
            w.queue_peak = max(w.queue_peak, int(m.get(QUEUE, 0)))
            if w.t_completed is None:
                async with http.get(f"{hq.base_url}/api/v1/bulletins?limit=1", headers=hq.headers()) as resp:
                    latest = (await resp.json())["bulletins"][0]
                if latest["id"] == bid and latest["state"] in ("completed", "expired", "failed", "cancelled"):
                    w.t_completed = time.time()
        if done >= nodes and w.t_completed is not None:
            return w
        if time.monotonic() - last_say > 5:
            say(f"LoaXa: received {received}/{nodes}, finished {done}/{nodes}, HQ queue {w.queue_peak} peak, "
                f"{time.monotonic() - t0:.0f} s")
            last_say = time.monotonic()
        if time.monotonic() - t0 > timeout_s:
            say(f"timeout after {timeout_s:.0f} s: received {received}/{nodes}, finished {done}/{nodes}")
            return w
        await asyncio.sleep(1.0)


def ingestion_rate(series: list[tuple[float, float]], first_ack: float | None) -> dict[str, float | None]:
    """Acks HQ ingested per second: the mean from the first ack on the broker to the last increase of
    the counter, and the best one-poll rate (about 1 s)."""
    if len(series) < 2 or first_ack is None:
        return {"mean_per_s": None, "peak_per_s": None, "acks": None}
    start = series[0][1]
    last_v = series[-1][1]
    last_t = min(t for t, v in series if v == last_v) if last_v > start else None  # when the last ack got in
    peak = max(((b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(series) if b[0] > a[0]),
               default=0.0)
    mean = (last_v - start) / (last_t - first_ack) if last_t and last_t > first_ack else None
    return {"mean_per_s": round(mean, 1) if mean else None, "peak_per_s": round(peak, 1), "acks": last_v - start}


def hq_histograms(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """HQ's own fan-out histograms (count, mean) from ``/metrics``: what an operator's dashboard shows."""
    out: dict[str, dict[str, float]] = {}
    for name in ("loaxa_hq_submit_to_sent_seconds", "loaxa_hq_sent_to_received_seconds",
                 "loaxa_hq_received_to_played_seconds"):
        count, total = metrics.get(f"{name}_count"), metrics.get(f"{name}_sum")
        if count:
            out[name] = {"count": count, "mean_ms": round(1000 * (total or 0) / count, 1)}
    return out


async def run_loaxa(opts: FanoutOptions, hq: HqProcess, logins: SimulatedLogins, work: Path, say: Say
                    ) -> dict[str, Any]:
    assert hq.cfg is not None
    await hq.start()
    say(f"HQ pid {hq.proc.pid if hq.proc else '?'} on {hq.base_url}, broker 127.0.0.1:{hq.broker_port}")
    fleet = Fleet(work / "fleet", COMMUNE, hq.broker_port, hq.cfg.key_path.with_suffix(".pub"), logins,
                  nodes=opts.nodes, zones=opts.zones, per_process=opts.per_process,
                  overrides={**opts.node_settings, "audio__hq_url": hq.base_url})
    user, password = credential_store(hq.cfg).hq_login()
    tap = Tap("127.0.0.1", hq.broker_port, COMMUNE, user, password)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        try:
            t0 = time.monotonic()
            await fleet.start(progress_say(say, "fleet"))
            fleet_online_s = time.monotonic() - t0
            settle_s = await wait_hq_settled(hq, http, opts.nodes, say, max(300.0, opts.nodes * 0.2),
                                             opts.settle_queue)
            say(f"fleet online in {fleet_online_s:.1f} s; HQ settled {settle_s:.1f} s later")
            await tap.start()
            await fleet.probe_reset()
            hq_proc, broker = hq.process(), hq.broker_process()
            rss = Sampler(hq_proc)
            rss.start()
            cpu0 = await cpu_snapshot(hq_proc, broker, fleet)
            zones = sorted({s.zone for s in fleet.specs})
            before = await hq.metrics(http)
            ingested0, queued0 = (time.time(), before.get(INGESTED, 0.0)), int(before.get(QUEUE, 0))
            bulletin, t_submit, t_post = await submit(hq, http, opts.text, zones)
            say(f"bulletin {bulletin['id']} accepted in {t_post - t_submit:.3f} s (state {bulletin['state']})")
            w = await watch(hq, http, fleet, Counting(tap), bulletin["id"], opts.nodes, opts.wait_s, say, ingested0)
            cpu1 = await cpu_snapshot(hq_proc, broker, fleet)
            await rss.stop()
            got = await fleet.probe()
            lags = await fleet.loop_lag()
            final_metrics = await hq.metrics(http)
            w.ingested.append((time.time(), final_metrics.get(INGESTED, 0.0)))  # acks ingested after the last poll
            async with http.get(f"{hq.base_url}/api/v1/bulletins?limit=1", headers=hq.headers()) as resp:
                final = (await resp.json())["bulletins"][0]
            result = reduce_loaxa(opts, fleet, tap, got, bulletin, final, t_submit, t_post, w, cpu0, cpu1, rss.peak,
                                  final_metrics, fleet_online_s, settle_s)
            result.update(reduce_start(tap.acks(), bulletin["id"], final, zone_of(fleet.specs), lags))
            result["hq_queue_at_submit"] = queued0
            return result
        finally:
            await tap.stop()
            await fleet.stop()
            hq.stop()


def reduce_loaxa(opts: FanoutOptions, fleet: Fleet, tap: Tap, got: dict[str, float], bulletin: dict[str, Any],
                 final: dict[str, Any], t_submit: float, t_post: float, w: Watch, cpu0: tuple[float, ...],
                 cpu1: tuple[float, ...], rss_peak: int, metrics: dict[str, float], fleet_online_s: float,
                 settle_s: float) -> dict[str, Any]:
    bid = bulletin["id"]
    acks = tap.acks()
    received = first_by_node(acks, frozenset({AckStage.RECEIVED}), bid)
    finished = first_by_node(acks, TERMINAL, bid)
    played = {n: v for n, v in finished.items() if v[1].stage == AckStage.PLAYED}
    zones = zone_of(fleet.specs)
    commands = tap.command_topics()
    sent = {n: commands[t] for n in zones if (t := topics.zone_cmd(COMMUNE, zones[n])) in commands}
    legs = stats.split_legs(submit=t_submit, sent=sent, got=got,
                            acked={n: a.ts.timestamp() for n, (_, a) in received.items()},
                            seen={n: at for n, (at, _) in received.items()})
    started = {n: a.started_at for n, (_, a) in played.items() if a.started_at is not None}
    spreads = stats.spread_by_zone(started, zones)
    play_at = datetime.fromisoformat(final["play_at"]) if final.get("play_at") else None
    first_ack = min((at for at, _ in acks), default=None)
    fleet_cpu_received = (w.fleet_cpu_at_received - cpu0[2]) if w.fleet_cpu_at_received is not None else None
    worst = max(spreads.items(), key=lambda kv: kv[1], default=(None, 0.0))
    return {
        "nodes": opts.nodes, "zones": len(set(zones.values())), "processes": len(fleet.workers),
        "bulletin": bid, "hq_state": final["state"], "fleet_online_s": round(fleet_online_s, 1),
        "hq_settled_s": round(settle_s, 1), "post_s": round(t_post - t_submit, 3),
        "received": len(received), "played": len(played),
        "not_played": {n: a.stage.value + (f" ({a.reason})" if a.reason else "")
                       for n, (_, a) in finished.items() if a.stage != AckStage.PLAYED},
        "submit_to_received": stats.summarise(at - t_submit for at, _ in received.values()),
        "submit_to_received_at_node": stats.summarise(a.ts.timestamp() - t_submit for _, a in received.values()),
        "submit_to_played": stats.summarise(at - t_submit for at, _ in played.values()),
        "submit_to_completed_s": round(w.t_completed - t_submit, 2) if w.t_completed else None,
        "waited_s": round(opts.wait_s, 0),
        "start_spread_per_village": stats.summarise(spreads.values()),
        "worst_village": {"zone": worst[0], "spread_ms": round(worst[1] * 1000, 1)},
        "start_after_play_at": stats.summarise(stats.lateness(started, play_at).values()) if play_at else None,
        "legs": {leg.name: stats.summarise(leg.seconds.values()) for leg in legs},
        "leg_what": {leg.name: leg.what for leg in legs},
        "leg_shares": {k: round(v, 3) for k, v in stats.leg_shares(legs).items()},
        "hq_cpu_s": round(cpu1[0] - cpu0[0], 2), "hq_rss_peak_mb": round(rss_peak / 2**20, 1),
        "broker_cpu_s": round(cpu1[1] - cpu0[1], 2), "fleet_cpu_s": round(cpu1[2] - cpu0[2], 2),
        "bench_cpu_s": round(cpu1[3] - cpu0[3], 2),
        "serial_node_work_to_received": (stats.serial_node_work(fleet_cpu_received, opts.nodes, os.cpu_count() or 1)
                                         if fleet_cpu_received is not None else None),
        "acks_ingested": ingestion_rate(w.ingested, first_ack), "hq_inbound_queue_peak": w.queue_peak,
        "hq_histograms": hq_histograms(metrics),
    }


def reduce_start(acks: list[tuple[float, Any]], bid: str, final: dict[str, Any], zones: dict[str, str],
                 lags: list[dict[str, Any]]) -> dict[str, Any]:
    """Why the starts were (not) together: which nodes had their audio ready in time (``rendered`` ack
    stamped early enough), the lateness and spread of those and of the others, and how busy each
    worker's event loop was around ``play_at`` (the simulation's share: a real node has its own)."""
    if not final.get("play_at"):
        return {}
    play_at = datetime.fromisoformat(final["play_at"])
    pa = play_at.timestamp()
    rendered = {n: a.ts.timestamp() for n, (_, a) in first_by_node(acks, frozenset({AckStage.RENDERED}), bid).items()}
    playing = {n: a.ts.timestamp() for n, (_, a) in first_by_node(acks, frozenset({AckStage.PLAYING}), bid).items()}
    played = {n: a for n, (_, a) in first_by_node(acks, TERMINAL, bid).items()
              if a.stage == AckStage.PLAYED and a.started_at is not None}
    started = {n: a.started_at for n, a in played.items()}
    late = stats.lateness(started, play_at)
    ready = stats.ready_in_time(rendered, pa)
    t1 = max((t.timestamp() for t in started.values()), default=pa) + 0.1
    samples = {n: [tuple(x) for x in w["samples"]] for w in lags for n in w["nodes"]}
    lag_at_start = [stats.lag_at(samples[n], started[n].timestamp()) for n in started if n in samples]
    workers = []
    for i, w in enumerate(lags):
        load = stats.loop_load([tuple(x) for x in w["samples"]], pa - 2.0, t1)
        workers.append({"worker": i, "nodes": len(w["nodes"]), "ticks": int(load["ticks"]),
                        **{k: round(v * 1000, 1) for k, v in load.items() if k.startswith("lag_")},
                        "cpu_share": round(load["cpu_share"], 2)})
    return {
        "ready_margin_s": stats.READY_MARGIN_S,
        "rendered_ahead_of_play_at": stats.summarise(pa - t for t in rendered.values()),
        "nodes_ready_in_time": len(ready),
        "playing_ahead_of_play_at": stats.summarise(pa - t for t in playing.values()),
        "start_after_play_at_ready": stats.summarise(late[n] for n in late if n in ready),
        "start_after_play_at_not_ready": stats.summarise(late[n] for n in late if n not in ready),
        "start_spread_per_village_ready": stats.summarise(stats.spread_by_zone(
            {n: t for n, t in started.items() if n in ready}, zones).values()),
        "loop_lag_at_start": stats.summarise(v for v in lag_at_start if not math.isnan(v)),
        "loop_window_s": [round(pa - 2.0, 3), round(t1, 3)],
        "workers_around_play_at": workers,
        "start_details": _count_details(played),
    }


def _count_details(played: dict[str, Any]) -> dict[str, int]:
    """How nodes described their start (``started on time`` / ``… late; audio was not ready …``)."""
    out: dict[str, int] = {}
    for a in played.values():
        d = a.detail or ""
        key = ("on time" if "on time" in d else "late, rendered at the start" if "not ready" in d
               else "late, audio was ready" if "late" in d else "no detail")
        out[key] = out.get(key, 0) + 1
    return out


def progress_say(say: Say, what: str) -> Callable[[FleetProgress], None]:
    last = [-1.0]

    def report(p: FleetProgress) -> None:
        if p.online == p.total or time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            say(f"{what}: {p.online}/{p.total} nodes connected ({p.processes} processes, {p.elapsed_s:.0f} s)")

    return report


def machine() -> dict[str, Any]:
    import platform

    with open("/proc/cpuinfo") as fh:
        cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "load_1m_at_start": round(os.getloadavg()[0], 2)}


async def run_fanout(opts: FanoutOptions, say: Say) -> dict[str, Any]:
    work = opts.work_dir or Path(tempfile.mkdtemp(prefix="loaxa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pg: TempPostgres | None = None
    result: dict[str, Any] = {"machine": machine(), "nodes": opts.nodes, "zones": min(opts.zones, opts.nodes)}
    try:
        url = opts.database_url
        if opts.postgres:
            pg = await asyncio.to_thread(TempPostgres().start)
            url = pg.url
        result["database"] = "postgresql" if url and url.startswith("postgresql") else "sqlite"
        hq = HqProcess(work / "hq", COMMUNE, url, opts.hq_settings)
        cfg = await hq.prepare()
        if not cfg.key_path.exists():
            signing.generate_keypair(cfg.key_path.parent)
        logins = SimulatedLogins(credential_store(cfg), work / "secrets", broker_dir(cfg))
        t0 = time.monotonic()
        await asyncio.to_thread(logins.ensure, {s.node: [s.zone] for s in plan_nodes(opts.nodes, opts.zones)})
        say(f"{opts.nodes} node credentials issued in {time.monotonic() - t0:.1f} s")
        if opts.baseline:
            payload = baseline_payload(cfg.key_path, work / "baseline-seq", opts.text)
            result["baseline"] = await bare_round_trip(
                work / "baseline", credential_store(cfg), logins, nodes=opts.nodes, zones=opts.zones,
                per_process=opts.per_process, payload=payload, timeout_s=max(120.0, opts.nodes * 0.05),
                progress=progress_say(say, "baseline"))
            rt = result["baseline"]["round_trip"]
            say(f"baseline round trip p50 {rt.p50 * 1000:.1f} ms, p99 {rt.p99 * 1000:.1f} ms")
        result["loaxa"] = await run_loaxa(opts, hq, logins, work, say)
        result["machine"]["load_1m_at_end"] = round(os.getloadavg()[0], 2)
        base = result.get("baseline")
        if base:
            lx = result["loaxa"]["submit_to_received"]
            result["ratio_to_baseline"] = {"p50": round(lx.p50 / base["round_trip"].p50, 1),
                                           "p99": round(lx.p99 / base["round_trip"].p99, 1)}
        return result
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if opts.keep or opts.work_dir is not None:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
