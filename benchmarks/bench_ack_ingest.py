"""Acks per second HQ records: the inbound router and its batched ingester on SQLite and PostgreSQL.

What it measures: from a node's ack handed to HQ's inbound router (as the MQTT link does) to the
transaction that records it committed and its future resolved (when the broker would be acknowledged).
The broker is left out on purpose (``loaxa-sim bench fanout`` measures the whole path); this is HQ's
database side, the part that was one transaction per ack.

    .venv/bin/python benchmarks/bench_ack_ingest.py [--nodes 2000] [--no-postgres]

A broadcast to ``--nodes`` loudspeakers is set up in the database (bulletin, command, pending
deliveries); then every node's received → rendered → scheduled → playing → played acks (5 per node,
interleaved as a real fan-out sends them) go through the router. Prints acks/s and transactions used.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

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


async def measure(url: str, n: int) -> tuple[float, float, float, float]:
    """(acks per second of wall-clock time, acks per second of this process's CPU time, acks, transactions)
    through the router on the database at ``url``. On a shared, loaded machine the CPU figure is what one
    free core would ingest (PostgreSQL's own CPU is not in it)."""
    db = await Database(url).open()
    try:
        await _seed(db, n)
        metrics = Metrics()
        handlers = {k: _noop for k in INBOUND if k != topics.TopicKind.NODE_ACK}
        router = InboundRouter(db.sessions, handlers, AckIngester(metrics, {}), _refused, metrics)  # type: ignore[arg-type]
        messages = _messages(n)
        router.start()
        started, cpu = time.perf_counter(), time.process_time()
        futures = [router.on_message(topic, payload) for topic, payload in messages]
        await asyncio.gather(*futures)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await router.stop()
        return (len(messages) / elapsed, len(messages) / cpu, len(messages),
                metrics.get("loaxa_hq_ack_batches_total"))
    finally:
        await db.close()


async def main(n: int, postgres: bool) -> None:
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.nodes, not args.no_postgres))
