"""HQ's answer to a broadcaster's POST, and its dispatch, with a large fleet registered (HQ alone, no nodes).

`loaxa-sim bench fanout` measures the POST beside a simulated fleet that takes most of the machine; this
isolates HQ: the real application on its embedded Mosquitto, N registered nodes in 20 villages, one
bulletin to every village at a time. For each: the POST's answer time as the broadcaster sees it, and the
time until HQ has sent it (the bulletin leaves ``sending``; every node's delivery row is written).

    .venv/bin/python benchmarks/bench_submit.py [--nodes 10000] [--bulletins 5] [--postgres]

Prints each bulletin's figures, then the median and worst.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from sqlalchemy import insert

from hq_server.services.users import create_user
from hq_server.storage.tables import Bulletin, Node, Zone, now
from hq_server.web import DB
from simulators.bench.hq_inproc import databases, hq_in_process

COMMUNE = "xa-bench"
VILLAGES = 20
TEXT = "Kính mời bà con đi họp thôn lúc bảy giờ tối nay tại nhà văn hoá."


async def measure(tmp: Path, url: str | None, n: int, count: int) -> list[tuple[float, float]]:
    """(POST answer seconds, submit → sent seconds) per bulletin."""
    async with hq_in_process(tmp, url, COMMUNE) as (app, client):
        t = now()
        zones = [f"thon-{v + 1}" for v in range(VILLAGES)]
        async with app[DB].sessions() as s:
            token = await create_user(s, "bench", "bench-password-1", "broadcaster", with_token=True)
            await s.execute(insert(Zone), [{"slug": z, "name": f"Thôn {i + 1}"} for i, z in enumerate(zones)])
            await s.execute(insert(Node), [{"id": f"loa-{i:05d}", "zones": [zones[i % VILLAGES]], "state": "online",
                                            "state_since": t, "registered": True} for i in range(n)])
            await s.commit()
        headers = {"Authorization": f"Bearer {token}"}
        out = []
        for _ in range(count):
            started = time.perf_counter()
            resp = await client.post("/api/v1/bulletins", headers=headers,
                                     json={"text": TEXT, "targets": {"zones": zones}})
            body = await resp.json()
            answered = time.perf_counter() - started
            if resp.status != 201:
                raise SystemExit(f"POST answered {resp.status}: {body}")
            bid = body["bulletin"]["id"]
            while True:  # until HQ has sent it; at most 300 s
                async with app[DB].sessions() as s:
                    state = (await s.get(Bulletin, bid)).state  # type: ignore[union-attr]
                if state not in ("scheduled", "sending"):
                    break
                if time.perf_counter() - started > 300:
                    raise SystemExit(f"bulletin {bid} still {state} after 300 s")
                await asyncio.sleep(0.02)
            sent = time.perf_counter() - started
            print(f"  POST answered in {answered * 1000:6.0f} ms; sent to {n} nodes after {sent:5.2f} s ({state})")
            out.append((answered, sent))
        return out


def show(db: str, n: int, results: list[tuple[float, float]]) -> None:
    posts, sends = [a for a, _ in results], [s for _, s in results]
    print(f"{db:<11} {n} nodes: POST median {statistics.median(posts) * 1000:.0f} ms, worst "
          f"{max(posts) * 1000:.0f} ms; submit → sent median {statistics.median(sends):.2f} s, "
          f"worst {max(sends):.2f} s")


async def main(n: int, count: int, postgres: bool) -> None:
    async for db, work, url in databases(postgres):
        show(db, n, await measure(work, url, n, count))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--bulletins", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.bulletins, args.postgres))
