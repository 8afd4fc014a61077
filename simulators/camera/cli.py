"""``loaxa-sim camera``: serve N simulated cameras on 127.0.0.1 and print their URLs.

Example: ``loaxa-sim camera --mjpeg 8 --rtsp 8 --width 640 --height 360``; then inject a fault with
``curl -X POST 'http://127.0.0.1:PORT/cam/mjpeg-1/fault?fault=freeze'`` (``?fault=none`` clears), or make
something happen in front of a camera with ``curl -X POST 'http://127.0.0.1:PORT/cam/mjpeg-1/action?action=person'``.
With ``--json`` the first stdout line is one JSON object ``{"cameras": [...], "control": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from loaxa_common.process import stop_on_signals
from simulators.camera.scene import ACTIONS, FAULTS, SCENES
from simulators.camera.server import CameraSimulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loaxa-sim camera", description="Simulated security cameras with faults")
    p.add_argument("--mjpeg", type=int, default=2, help="number of MJPEG-over-HTTP cameras (default 2)")
    p.add_argument("--rtsp", type=int, default=0, help="number of RTSP cameras (needs python3-gi, GStreamer)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--port", type=int, default=0, help="HTTP port for MJPEG and control (0 = any free port)")
    p.add_argument("--scene", choices=SCENES, default="street",
                   help="street: traffic and a bouncing ball; watch: only the road's traffic (default street)")
    p.add_argument("--json", action="store_true", help="print the camera list as one JSON line")
    return p


async def serve(args: argparse.Namespace) -> int:
    sim = CameraSimulator.make(
        args.mjpeg, args.rtsp, width=args.width, height=args.height, fps=args.fps, port=args.port, scene=args.scene
    )
    await sim.start()
    try:
        cams = [
            {"id": c.id, "protocol": c.protocol, "url": c.url, "control": sim.control_url(c.id),
             "action": sim.action_url(c.id)}
            for c in sim.cameras.values()
        ]
        if args.json:
            print(json.dumps({"cameras": cams, "http_port": sim.port}), flush=True)
        else:
            for c in cams:
                print(f"{c['id']:<10} {c['url']}")
            print(f"faults: {', '.join(FAULTS)}  — POST {sim.control_url('<id>')}?fault=NAME")
            print(f"actions: {', '.join(ACTIONS)}  — POST {sim.action_url('<id>')}?action=NAME", flush=True)
        await stop_on_signals().wait()
    finally:
        await sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mjpeg < 0 or args.rtsp < 0 or args.mjpeg + args.rtsp == 0:
        print("need at least one camera", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
