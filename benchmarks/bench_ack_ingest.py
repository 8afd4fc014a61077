"""Acks per second HQ records: the inbound router and its batched ingester on SQLite and PostgreSQL.

What it measures: from a node's ack handed to HQ's inbound router (as the MQTT link does) to the
transaction that records it committed and its future resolved (when the broker would be acknowledged).
The broker is left out on purpose (``loaxa-sim bench fanout`` measures the whole path); this is HQ's
database side, the part that was one transaction per ack.

    .venv/bin/python benchmarks/bench_ack_ingest.py [--nodes 2000] [--no-postgres] [--processes 2]

A broadcast to ``--nodes`` loudspeakers is set up in the database (bulletin, command, pending
deliveries); then every node's received → rendered → scheduled → playing → played acks (5 per node,
interleaved as a real fan-out sends them) go through the router. Prints acks/s and transactions used.

``--processes P`` (P > 1) also measures P HQ processes sharing one PostgreSQL database, as several
``hq-server run`` processes do (docs/multi-hq.md): each process has its own router, and each ack goes to
one of them at random, as the broker's shared subscription hands out messages one by one, so two
processes often hold acks of the same delivery at once and wait on each other's row locks. Once every
process is ready, all start together; the rate is all acks over the time from the first start to the
last end. The run then checks that every delivery was recorded ``played`` and the bulletin ``completed``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from hq_server.services.ack_ingest import AckIngester
from hq_server.services.inbound_router import INBOUND, InboundRouter
from hq_server.services.metrics import Metrics
from hq_server.storage.db import Database
from hq_server.storage.tables import Bulletin, CommandLog, Delivery, Node, now
from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage
from simulators.bench.pg import TempPostgres

COMMUNE = "xa-bench"
STAGES = (AckStage.RECEIVED, AckStage.RENDERED, AckStage.SCHEDULED, AckStage.PLAYING, AckStage.PLAYED)


async def _seed(db: Database, n: int) -> None:
    t = now()
    async with db.sessions() as s:
        await s.execute(insert(Node), [{"id": f"loa-{i:05d}", "zones": ["thon-1"], "state": "online",
                                        "state_since": t} for i in range(n)])
        s.add(Bulletin(id="b1", text="Thông báo", targets={"zones": ["thon-1"]}, state="active", author="bench",
                       expires_at=t + timedelta(hours=1), sent_at=t))
        s.add(CommandLog(id="cmd-b1", type="bulletin", bulletin_id="b1", target="zone:thon-1",
                         expires_at=t + timedelta(hours=1), published_at=t))
        await s.flush()
        await s.execute(insert(Delivery.__table__), [
            {"bulletin_id": "b1", "node_id": f"loa-{i:05d}", "state": "pending", "attempts": 1, "command_id": "cmd-b1",
             "last_sent_at": t, "updated_at": t} for i in range(n)])
        await s.commit()


def _messages(n: int) -> list[tuple[str, bytes]]:
    t = datetime.now(UTC)
    out = []
    for stage in STAGES:
        for i in range(n):
            node = f"loa-{i:05d}"
            extra = {"started_at": t, "ended_at": t, "duration_s": 3.0} if stage == AckStage.PLAYED else {}
            out.append((topics.node_ack(COMMUNE, node),
                        codec.encode(Ack(node=node, command_id="cmd-b1", bulletin_id="b1", stage=stage, **extra))))
    return out


async def _noop(parsed: topics.ParsedTopic, payload: bytes) -> None:
    return None


async def _refused(topic: str, refused: Exception) -> None:
    print(f"refused: {refused}")


async def _ingest(db: Database, messages: list[tuple[str, bytes]]) -> tuple[float, float, float, float]:
    """Hand ``messages`` to a router on ``db`` and wait until each is recorded: (start and end in
    ``time.time()``, so several processes share one clock; CPU seconds of this process; transactions)."""
    metrics = Metrics()
    handlers = {k: _noop for k in INBOUND if k != topics.TopicKind.NODE_ACK}
    router = InboundRouter(db.sessions, handlers, AckIngester(metrics, {}), _refused, metrics)  # type: ignore[arg-type]
    router.start()
    started, cpu = time.time(), time.process_time()
    await asyncio.gather(*[router.on_message(topic, payload) for topic, payload in messages])
    ended, cpu = time.time(), time.process_time() - cpu
    await router.stop()
    return started, ended, cpu, metrics.get("loaxa_hq_ack_batches_total")


async def measure(url: str, n: int) -> tuple[float, float, float, float]:
    """(acks per second of wall-clock time, acks per second of this process's CPU time, acks, transactions)
    through the router on the database at ``url``. On a shared, loaded machine the CPU figure is what one
    free core would ingest (PostgreSQL's own CPU is not in it)."""
    db = await Database(url).open()
    try:
        await _seed(db, n)
        messages = _messages(n)
        started, ended, cpu, batches = await _ingest(db, messages)
        return len(messages) / (ended - started), len(messages) / cpu, len(messages), batches
    finally:
        await db.close()


def _share(url: str, n: int, index: int, processes: int, ready: multiprocessing.queues.Queue[int],
           go: multiprocessing.synchronize.Event,
           results: multiprocessing.queues.Queue[tuple[float, float, float, float]]) -> None:
    """One HQ process's part of the acks (the same random draw in every process, so each ack goes to
    exactly one), started when ``go`` is set."""
    async def run() -> tuple[float, float, float, float]:
        db = await Database(url).open()
        try:
            draw = random.Random(1)
            mine = [m for m in _messages(n) if draw.randrange(processes) == index]
            ready.put(index)
            await asyncio.to_thread(go.wait)
            return await _ingest(db, mine)
        finally:
            await db.close()
    results.put(asyncio.run(run()))


async def measure_shared(url: str, n: int, processes: int) -> tuple[float, float, float, bool]:
    """(acks per second of wall clock, acks, transactions, every delivery played and the bulletin
    completed) with ``processes`` HQ processes sharing the database at ``url``."""
    db = await Database(url).open()
    try:
        await _seed(db, n)
        ctx = multiprocessing.get_context("spawn")
        ready, go, results = ctx.Queue(), ctx.Event(), ctx.Queue()
        workers = [ctx.Process(target=_share, args=(url, n, i, processes, ready, go, results))
                   for i in range(processes)]
        for w in workers:
            w.start()
        try:
            for _ in workers:
                await asyncio.to_thread(ready.get, True, 120)
            go.set()
            parts = [await asyncio.to_thread(results.get, True, 600) for _ in workers]
        finally:
            for w in workers:
                w.join(30)
                if w.is_alive():
                    w.terminate()
        async with db.sessions() as s:
            played = await s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "played"))
            state = await s.scalar(select(Bulletin.state).where(Bulletin.id == "b1"))
        elapsed, acks = max(p[1] for p in parts) - min(p[0] for p in parts), len(STAGES) * n
        return acks / elapsed, acks, sum(p[3] for p in parts), played == n and state == "completed"
    finally:
        await db.close()


async def main(n: int, postgres: bool, processes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rate, cpu_rate, acks, batches = await measure(f"sqlite+aiosqlite:///{Path(tmp) / 'hq.sqlite3'}", n)
        print(f"SQLite:     {rate:8.0f} acks/s wall clock, {cpu_rate:8.0f} acks per CPU second "
              f"({acks:.0f} acks, {batches:.0f} transactions, {n} nodes)")
    if postgres:
        pg = TempPostgres().start()
        try:
            rate, cpu_rate, acks, batches = await measure(pg.url, n)
            print(f"PostgreSQL: {rate:8.0f} acks/s wall clock, {cpu_rate:8.0f} acks per CPU second of HQ "
                  f"({acks:.0f} acks, {batches:.0f} transactions, {n} nodes)")
        finally:
            pg.stop()
    if postgres and processes > 1:
        pg = TempPostgres().start()
        try:
            rate, acks, batches, complete = await measure_shared(pg.url, n, processes)
            print(f"PostgreSQL, {processes} HQ processes: {rate:8.0f} acks/s wall clock ({acks:.0f} acks, "
                  f"{batches:.0f} transactions, {n} nodes; every delivery played and the bulletin completed: "
                  f"{'yes' if complete else 'NO'})")
        finally:
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--processes", type=int, default=1,
                        help="also measure this many HQ processes sharing one PostgreSQL database")
    args = parser.parse_args()
    asyncio.run(main(args.nodes, not args.no_postgres, args.processes))
