"""CPU cost of camera detection per camera: health only, motion only, motion + people (HOG).

Run: ``.venv/bin/python benchmarks/bench_detection.py [--cameras 4] [--duration 40] [--sizes 640x360,1280x720]``.

For each picture size, simulated MJPEG cameras (scene ``watch``, 10 fps, their own process) are watched by
a real :class:`CameraMonitor` in this process, one configuration after another:

* ``health``: no detection, one sample per ``--interval`` (2 s) — the baseline of opening and decoding;
* ``motion``: detection with ``events: [motion]``, one sample per 2 s;
* ``people``: ``events: [person]`` while a person crosses every camera the whole time, so that every
  sample has motion and runs HOG (the worst case: a market in daylight).

CPU (user + system) of this process is divided by wall time and by the number of cameras. A second part
times the detection steps alone on decoded frames (no streams), per frame and per HOG call. Prints
numbers; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.camera import CameraConfig, CameraMonitor  # noqa: E402
from edge_agent.camera.detect_config import MotionSettings, PeopleSettings  # noqa: E402
from edge_agent.camera.detector import DetectedEvent  # noqa: E402
from edge_agent.camera.health import to_gray  # noqa: E402
from edge_agent.camera.motion import MotionDetector  # noqa: E402
from edge_agent.camera.people import PeopleDetector  # noqa: E402
from loaxa_contract.models import CameraHealth  # noqa: E402
from simulators.camera.scene import SceneCamera  # noqa: E402

ROAD = [[0.0, 0.7], [1.0, 0.7], [1.0, 1.0], [0.0, 1.0]]


def post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5):
        pass


def states(cams: list[dict[str, str]]) -> dict[str, str]:
    with urllib.request.urlopen(cams[0]["action"].split("/cam/")[0] + "/cams", timeout=5) as resp:
        return {c["id"]: c["action"] for c in json.loads(resp.read())}


async def keep_people_walking(cams: list[dict[str, str]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        actions = await asyncio.to_thread(states, cams)
        for cam in cams:
            if actions[cam["id"]] == "none":
                await asyncio.to_thread(post, f"{cam['action']}?action=person&seconds=6")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def measure(cams: list[dict[str, str]], mode: str, args: argparse.Namespace) -> tuple[float, int]:
    detection = None if mode == "health" else {
        "events": ["motion"] if mode == "motion" else ["person"], "masks": [ROAD],
        "sample_interval_s": args.interval}
    configs = [CameraConfig(id=c["id"], url=c["url"], sample_interval_s=args.interval, detection=detection)
               for c in cams]
    events: list[DetectedEvent] = []

    async def on_event(event: DetectedEvent) -> None:
        events.append(event)

    async def publish(_: CameraHealth) -> None:
        return None

    me = psutil.Process()
    stop = asyncio.Event()
    walker = asyncio.create_task(keep_people_walking(cams, stop)) if mode == "people" else None
    async with CameraMonitor(configs, publish, node="bench", on_event=on_event) as mon:
        while not all(w.samples >= 3 for w in mon.workers.values()):
            await asyncio.sleep(0.2)
        cpu0, w0, s0 = me.cpu_times(), time.monotonic(), sum(w.samples for w in mon.workers.values())
        await asyncio.sleep(args.duration)
        cpu1, w1, s1 = me.cpu_times(), time.monotonic(), sum(w.samples for w in mon.workers.values())
    stop.set()
    if walker is not None:
        await walker
    used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return 100 * used / (w1 - w0) / len(cams), round((s1 - s0) / (w1 - w0) / len(cams) * 60)


def step_costs(width: int, height: int) -> str:
    """Milliseconds of CPU per step on decoded frames of a person crossing (no streams)."""
    scene = SceneCamera("b", width, height, seed=3, scene="watch")
    scene.set_action("person", 8.0)
    frames = [cv2.imdecode(np.frombuffer(scene.jpeg(t / 10), np.uint8), cv2.IMREAD_COLOR) for t in range(80)]
    motion = MotionDetector(MotionSettings(), [ROAD])
    people = PeopleDetector(PeopleSettings())
    decode, gray_t, motion_t, hog_t = [], [], [], []
    jpeg = scene.jpeg(0.0)
    for frame in frames:
        t0 = time.process_time()
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        t1 = time.process_time()
        gray = to_gray(frame, 320)
        t2 = time.process_time()
        result = motion.detect(gray)
        t3 = time.process_time()
        decode.append(t1 - t0)
        gray_t.append(t2 - t1)
        motion_t.append(t3 - t2)
        if result.moving:
            t4 = time.process_time()
            people.detect(frame, result.boxes)
            hog_t.append(time.process_time() - t4)
    t5 = time.process_time()
    for frame in frames[:10]:
        people.hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
    whole = (time.process_time() - t5) / 10

    def ms(values: list[float]) -> str:
        return f"{1000 * statistics.median(values):6.2f}" if values else "   n/a"

    return (f"{width}x{height}: per frame decode {ms(decode)} ms, grey {ms(gray_t)} ms, motion {ms(motion_t)} ms; "
            f"HOG on the moving region {ms(hog_t)} ms (median of {len(hog_t)}), HOG on the whole frame "
            f"{1000 * whole:.0f} ms")


async def main(args: argparse.Namespace) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {psutil.cpu_count()} CPUs, OpenCV {cv2.__version__}; "
          f"{args.cameras} MJPEG cameras at 10 fps, one sample (6 frames) per {args.interval:g} s, "
          f"{args.duration:g} s per measure")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        cmd = [sys.executable, "-m", "simulators.camera.cli", "--mjpeg", str(args.cameras), "--width", str(width),
               "--height", str(height), "--fps", "10", "--scene", "watch", "--json"]
        sim = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert sim.stdout is not None
            cams = json.loads(sim.stdout.readline())["cameras"]
            for mode in ("health", "motion", "people"):
                cpu, rate = await measure(cams, mode, args)
                print(f"{size:>9} {mode:<7} CPU per camera {cpu:5.1f} % of one core ({rate} samples/min/camera)",
                      flush=True)
        finally:
            sim.terminate()
            sim.wait(10)
        print(step_costs(width, height), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--duration", type=float, default=40.0)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--sizes", default="640x360,1280x720")
    asyncio.run(main(p.parse_args()))
