"""``loaxa-sim``: simulated villages, loudspeaker nodes and cameras."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from loaxa_common.process import setup_logging
from simulators import fleet_cli
from simulators.bench import cli as bench_cli


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "camera":
        from simulators.camera.cli import main as camera_main

        return camera_main(argv[1:])
    p = argparse.ArgumentParser(prog="loaxa-sim", description="LoaXa simulators")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="HQ (embedded broker) + a simulated village; send one bulletin, keep serving")
    d.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="HQ data, node state and played WAVs")
    d.add_argument("--text", default=None, help="bulletin text (default: a sample commune announcement)")
    d.add_argument("--http-port", type=int, default=8080, help="HQ web/API port on 127.0.0.1")
    d.add_argument("--zones", type=int, default=2, help="villages (zones) to simulate")
    d.add_argument("--nodes-per-zone", type=int, default=2)
    d.add_argument("--once", action="store_true", help="exit after the bulletin instead of serving")
    sub.add_parser("camera", help="serve simulated cameras (see loaxa-sim camera --help)")
    fleet_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    args = p.parse_args(argv)
    setup_logging(args.verbose, quiet_level=logging.WARNING)
    if args.cmd == "demo":
        from hq_server.ports import http_port_problem
        from loaxa_link.mosquitto import BrokerError
        from simulators.demo import DEMO_TEXT, run_demo

        problem = http_port_problem("127.0.0.1", args.http_port)
        if problem:  # before HQ, its broker and the village start: nothing is left running
            print(f"lỗi (error): {problem}; loaxa-sim demo --http-port PORT", file=sys.stderr)
            return 2
        try:
            return asyncio.run(run_demo(args.data_dir, text=args.text or DEMO_TEXT, http_port=args.http_port,
                                        zones=args.zones, per_zone=args.nodes_per_zone, once=args.once))
        except (OSError, BrokerError) as err:  # a broker that cannot start: say so, no traceback
            print(f"lỗi: demo không khởi động được (the demo could not start): {err}", file=sys.stderr)
            return 2
    if args.cmd == "bench":
        return bench_cli.run_bench(args)
    if args.cmd == "fleet":
        return asyncio.run(fleet_cli.run_fleet(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
