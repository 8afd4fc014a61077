"""``loaxa-sim bench fanout``: the bare broker and LoaXa, one bulletin to every village, in one run."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from simulators.bench.fanout import BENCH_TEXT, FanoutOptions, run_fanout
from simulators.bench.report import table, to_json
from simulators.fleet_plan import MAX_PER_PROCESS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("bench", help="benchmarks (see loaxa-sim bench fanout --help)")
    bs = b.add_subparsers(dest="bench", required=True)
    f = bs.add_parser("fanout", help="bare-broker round trip, then HQ → N real agents: received, played, spread")
    f.add_argument("--nodes", type=int, required=True)
    f.add_argument("--zones", type=int, default=20, help="villages; the bulletin goes to all of them")
    f.add_argument("--per-process", type=int, default=MAX_PER_PROCESS, help="simulated nodes per worker process")
    db = f.add_mutually_exclusive_group()
    db.add_argument("--postgres", action="store_true", help="HQ on a throw-away PostgreSQL server (default SQLite)")
    db.add_argument("--database-url", help="HQ on this database (SQLAlchemy async URL)")
    f.add_argument("--no-baseline", action="store_true", help="skip the bare-broker round trip")
    f.add_argument("--text", default=BENCH_TEXT, help="bulletin text")
    f.add_argument("--timeout", type=float, default=None, help="seconds to wait for every node to finish")
    f.add_argument("--work-dir", type=Path, default=None, help="keep everything here (default: a temp dir, removed)")
    f.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    f.add_argument("--settle-queue", type=int, default=0, metavar="N",
                   help="broadcast once HQ's inbound queue holds at most N messages (default 0: empty)")
    f.add_argument("--hq-setting", action="append", default=[], metavar="SECTION.FIELD=JSON",
                   help="HQ config override, e.g. bulletins.lead_time_s=10 (repeatable)")
    f.add_argument("--node-setting", action="append", default=[], metavar="SECTION.FIELD=JSON",
                   help="config override for every simulated node, e.g. schedule.lead_s=30 (repeatable)")


def hq_settings(items: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not (section and name and value):
            raise ValueError(f"--hq-setting {item!r}: expected SECTION.FIELD=JSON")
        out.setdefault(section, {})[name] = json.loads(value)
    return out


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace) -> int:
    try:
        settings = hq_settings(args.hq_setting)
        node_settings = {f"{section}__{name}": value for section, fields in hq_settings(args.node_setting).items()
                         for name, value in fields.items()}
    except ValueError as err:
        print(f"lỗi (error): {err}", file=sys.stderr)
        return 2
    opts = FanoutOptions(nodes=args.nodes, zones=args.zones, per_process=args.per_process,
                         database_url=args.database_url, postgres=args.postgres, text=args.text,
                         timeout_s=args.timeout, baseline=not args.no_baseline, work_dir=args.work_dir,
                         hq_settings=settings, node_settings=node_settings, settle_queue=args.settle_queue)
    try:
        result = asyncio.run(run_fanout(opts, say))
    except KeyboardInterrupt:
        print("đã dừng (interrupted): everything started was stopped", file=sys.stderr)
        return 130
    doc = to_json(result)
    print(table(result))
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    if args.out:
        args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return 0
