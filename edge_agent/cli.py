"""``edge-agent``: run the node agent, and field tools for the technician."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from edge_agent.config import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-agent", description="LoaXa edge agent (village loudspeaker / camera node)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the agent")
    r.add_argument("--config", type=Path, required=True, help="node YAML (see firmware_configs/)")
    c = sub.add_parser("check-config", help="validate a node config and exit")
    c.add_argument("--config", type=Path, required=True)
    n = sub.add_parser("normalize", help="print how a bulletin text will be read aloud")
    n.add_argument("text")
    return p


async def _run(config_path: Path) -> int:
    from edge_agent.app import EdgeAgent

    agent = EdgeAgent(load_config(config_path))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await agent.start()
    await stop.wait()
    logging.getLogger(__name__).info("stopping on signal")
    await agent.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.cmd == "run":
            return asyncio.run(_run(args.config))
        if args.cmd == "check-config":
            cfg = load_config(args.config)
            print(f"{args.config}: OK (node {cfg.node.id}, commune {cfg.node.commune})")
            return 0
        if args.cmd == "normalize":
            from loaxa_speech.normalise import normalise

            print(normalise(args.text))
            return 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
