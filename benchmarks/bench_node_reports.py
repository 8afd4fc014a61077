"""Node reports per second HQ records: periodic health, reconnect reports and births, on SQLite and PostgreSQL.

Every node sends a health report a minute (~170 a second from 10 000 nodes), and after a broker restart
every node sends a birth and a reconnect report (its bulletin list, reconciled) at once. This measures
HQ's side of that: the real HQ application (its embedded Mosquitto is started but left out of the path),
each report handed to HQ's inbound router as the MQTT link does, until the transaction that records it
is committed (when the broker would be acknowledged).

    .venv/bin/python benchmarks/bench_node_reports.py [--nodes 2000] [--no-postgres]

Prints reports per second of wall clock and per CPU second of this process, and the transactions used.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert

from hq_server.storage.tables import Node, now
from hq_server.web import DB, ORCH
from loaxa_contract import codec, topics
from loaxa_contract.models import NodeHealth, NodeState
from simulators.bench.hq_inproc import databases, hq_in_process

COMMUNE = "xa-bench"
TOPIC_KIND = {"periodic health": "node_health", "reconnect report": "node_health", "birth": "node_state"}
KINDS: dict[str, Callable[[str, int], tuple[str, bytes]]] = {
    "periodic health": lambda node, i: (topics.node_health(COMMUNE, node),
                                        codec.encode(NodeHealth(node=node, uptime_s=60.0 + i, cpu_temp_c=45.0))),
    "reconnect report": lambda node, i: (topics.node_health(COMMUNE, node),
                                         codec.encode(NodeHealth(node=node, uptime_s=5.0, bulletins=[]))),
    "birth": lambda node, i: (topics.build(topics.TopicKind.NODE_STATE, COMMUNE, node=node),
                              codec.encode(NodeState(node=node, state="online", zones=["thon-1"]))),
}


async def measure(tmp: Path, url: str | None, n: int) -> dict[str, tuple[float, float, float]]:
    """kind → (reports/s wall clock, reports per CPU second, batch transactions)."""
    async with hq_in_process(tmp, url, COMMUNE) as (app, _):
        orch = app[ORCH]
        t = now()
        async with app[DB].sessions() as s:
            await s.execute(insert(Node), [{"id": f"loa-{i:05d}", "zones": ["thon-1"], "state": "offline",
                                            "state_since": t, "registered": True} for i in range(n)])
            await s.commit()
        out = {}
        for kind, build in KINDS.items():
            messages = [build(f"loa-{i:05d}", i) for i in range(n)]
            counter = ("loaxa_hq_inbound_batches_total", TOPIC_KIND[kind])
            batches = orch.metrics.get(counter[0], kind=counter[1])
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(orch.router.on_message(topic, payload) for topic, payload in messages))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            out[kind] = (n / elapsed, n / cpu, orch.metrics.get(counter[0], kind=counter[1]) - batches)
        return out


def show(db: str, n: int, results: dict[str, tuple[float, float, float]]) -> None:
    for kind, (rate, cpu_rate, batches) in results.items():
        print(f"{db:<11} {kind:<17} {rate:8.0f}/s wall clock, {cpu_rate:8.0f} per CPU second "
              f"({n} nodes, {batches:.0f} batch transactions)")


async def main(n: int, postgres: bool) -> None:
    async for db, work, url in databases(postgres):
        show(db, n, await measure(work, url, n))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.nodes, not args.no_postgres))
