"""Cost of the camera monitor and its detection delays, against 16 simulated cameras.

Run: ``.venv/bin/python benchmarks/bench_camera.py [--duration 60] [--mjpeg 8 --rtsp 8]``.
The simulator runs in its own process; CPU and RSS are measured for this process (the monitor) only.
Then faults are injected and the time to the reported status change is printed. Prints numbers; not a test.

``--measure-diff`` instead prints, for healthy and frozen MJPEG and RTSP streams at 320x240, 640x360 and
1280x720, the two frame-change measures of :mod:`edge_agent.camera.health` over samples taken the way the
monitor takes them (open, read 6 frames, close; the previous sample's last frame included): the mean
absolute grey difference at 320 px (the old frozen test) and the % of changed motion-image pixels (the new).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.camera import CameraConfig, CameraMonitor
from edge_agent.camera.capture import configure_ffmpeg, open_capture
from edge_agent.camera.health import analyse_frames, to_gray
from loaxa_contract.models import CameraHealth, CameraStatus


async def run(args: argparse.Namespace) -> None:
    cmd = [sys.executable, "-m", "simulators.camera.cli", "--mjpeg", str(args.mjpeg), "--rtsp", str(args.rtsp)]
    cmd += ["--width", str(args.width), "--height", str(args.height), "--fps", "10", "--json"]
    sim = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        cams = json.loads(sim.stdout.readline())["cameras"]
        changes: list[tuple[float, CameraHealth]] = []

        async def publish(h: CameraHealth) -> None:
            changes.append((time.monotonic(), h))

        configs = [
            CameraConfig(
                id=c["id"],
                url=c["url"],
                sample_interval_s=args.interval,
                min_fps=8,
                expected_width=args.width,
                expected_height=args.height,
            )
            for c in cams
        ]
        me = psutil.Process()
        async with CameraMonitor(configs, publish, node="bench", publish_interval_s=60) as mon:
            t0 = time.monotonic()
            while not all(mon.health(c.id).status is CameraStatus.OK for c in configs):
                if time.monotonic() - t0 > 120:
                    raise SystemExit(f"not all ok: {[(h.camera, h.status.value) for h in mon.all_health()]}")
                await asyncio.sleep(0.2)
            print(f"{len(configs)} cameras ok after {time.monotonic() - t0:.1f} s")
            cpu0, w0 = me.cpu_times(), time.monotonic()
            peak = 0
            while time.monotonic() - w0 < args.duration:
                await asyncio.sleep(1)
                peak = max(peak, me.memory_info().rss)
            cpu1, w1 = me.cpu_times(), time.monotonic()
            used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            print(
                f"monitor CPU: {100 * used / (w1 - w0):.1f} % of one core over {w1 - w0:.0f} s "
                f"({len(configs)} cameras, one sample per {args.interval:g} s)"
            )
            print(
                f"monitor RSS: {me.memory_info().rss / 2**20:.0f} MB (peak {peak / 2**20:.0f} MB); "
                f"threads {me.num_threads()}"
            )
            sp = psutil.Process(sim.pid)
            sim_rss = sp.memory_info().rss + sum(c.memory_info().rss for c in sp.children(recursive=True))
            print(f"simulator RSS (not counted): {sim_rss / 2**20:.0f} MB")
            faults = {"disconnect": CameraStatus.OFFLINE, "stall": CameraStatus.OFFLINE, "freeze": CameraStatus.FROZEN}
            plan = []
            for i, (fault, status) in enumerate(faults.items()):
                for proto in ("mjpeg", "rtsp"):
                    ids = [c for c in cams if c["protocol"] == proto]
                    if len(ids) > i:
                        plan.append((ids[i], fault, status))
            start = {}
            for cam, fault, _ in plan:
                urllib.request.urlopen(urllib.request.Request(f"{cam['control']}?fault={fault}", method="POST"))
                start[cam["id"]] = time.monotonic()
            pending = {cam["id"]: (fault, status) for cam, fault, status in plan}
            while pending and time.monotonic() - min(start.values()) < 90:
                for cid, (fault, status) in list(pending.items()):
                    hit = [t for t, h in changes if h.camera == cid and h.status is status and t >= start[cid]]
                    if hit:
                        print(f"{cid:<8} {fault:<10} -> {status.value:<8} in {hit[0] - start[cid]:5.1f} s")
                        del pending[cid]
                await asyncio.sleep(0.1)
            for cid, (fault, status) in pending.items():
                print(f"{cid:<8} {fault:<10} -> {status.value}: NOT DETECTED in 90 s")
    finally:
        sim.terminate()
        sim.wait(10)


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5).close()


def _stats(values: list[float]) -> str:
    v = sorted(values)
    return f"{v[0]:6.3f} {v[len(v) // 2]:6.3f} {v[-1]:6.3f}"


def measure_diff(samples: int) -> None:
    """Frame change of healthy vs frozen streams, per protocol and size (min / median / max over samples)."""
    configure_ffmpeg()
    root = Path(__file__).resolve().parents[1]
    print(
        "size      proto state  | mean|Δ| at 320 px: pairs min med max, per-sample max min med max "
        "| changed % (160 px, >6): pairs min med max, per-sample max min med max"
    )
    for width, height in ((320, 240), (640, 360), (1280, 720)):
        cmd = [sys.executable, "-m", "simulators.camera.cli", "--mjpeg", "1", "--rtsp", "1"]
        cmd += ["--width", str(width), "--height", str(height), "--fps", "10", "--json"]
        sim = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        try:
            assert sim.stdout is not None
            for cam in json.loads(sim.stdout.readline())["cameras"]:
                cfg = CameraConfig(id=cam["id"], url=cam["url"])
                for state in ("none", "freeze"):
                    _post(f"{cam['control']}?fault={state}")
                    time.sleep(1.0)
                    previous = None
                    pair_d, pair_m, max_d, max_m = [], [], [], []
                    for _ in range(samples):
                        cap = open_capture(cfg)
                        grays = []
                        for _ in range(cfg.frames_per_sample):
                            ok, img = cap.read()
                            if ok:
                                grays.append(to_gray(img, cfg.analysis_width))
                        cap.release()
                        chain = ([previous] if previous is not None else []) + grays
                        for a, b in itertools.pairwise(chain):
                            one = analyse_frames([b], a)
                            pair_d.append(one.frame_diff or 0.0)
                            pair_m.append(one.motion or 0.0)
                        whole = analyse_frames(grays, previous)
                        max_d.append(whole.frame_diff or 0.0)
                        max_m.append(whole.motion or 0.0)
                        previous = grays[-1]
                        time.sleep(0.5)
                    label = "healthy" if state == "none" else "frozen"
                    print(
                        f"{width}x{height:<5} {cam['protocol']:<5} {label:<7}| {_stats(pair_d)}  {_stats(max_d)} "
                        f"| {_stats(pair_m)}  {_stats(max_m)}",
                        flush=True,
                    )
        finally:
            sim.terminate()
            sim.wait(10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mjpeg", type=int, default=8)
    p.add_argument("--rtsp", type=int, default=8)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--measure-diff", action="store_true", help="print frame-change figures of healthy vs frozen")
    p.add_argument("--samples", type=int, default=10, help="samples per stream and state for --measure-diff")
    args = p.parse_args()
    if args.measure_diff:
        measure_diff(args.samples)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
