"""Fixtures: a camera simulator in its own process (MJPEG + RTSP), helpers to wait on conditions.

The RTSP cameras are not optional: when the system python lacks GStreamer's RTSP server (or a plugin),
the live tests FAIL with the apt packages to install, they are never skipped quietly.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.camera.server import rtsp_requirements_error
from tests.conftest import camera_priority

ROOT = Path(__file__).resolve().parents[2]
#: One simulator for the module: mjpeg-1..8 get one fault each and rtsp-1..4 two each (concurrently); later
#: tests reuse rtsp-1/rtsp-2 (the 640x360 RTSP freeze test) and use mjpeg-9/mjpeg-10.
SIM_MJPEG, SIM_RTSP = 10, 4
SIM_WIDTH, SIM_HEIGHT = 640, 360


class SimProcess:
    def __init__(self, info: dict[str, Any]) -> None:
        self.cameras = {c["id"]: c for c in info["cameras"]}

    def url(self, cam: str) -> str:
        return self.cameras[cam]["url"]

    def fault(self, cam: str, fault: str) -> None:
        req = urllib.request.Request(f"{self.cameras[cam]['control']}?fault={fault}", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def action(self, cam: str, action: str, seconds: float | None = None) -> None:
        query = f"action={action}" + (f"&seconds={seconds}" if seconds is not None else "")
        req = urllib.request.Request(f"{self.cameras[cam]['action']}?{query}", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def state(self, cam: str) -> dict[str, Any]:
        control = self.cameras[cam]["control"]
        with urllib.request.urlopen(control.split("/cam/")[0] + "/cams", timeout=5) as resp:
            return {c["id"]: c for c in json.loads(resp.read())}[cam]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    yield from run_sim(SIM_MJPEG, SIM_RTSP)


def run_sim(mjpeg: int, rtsp: int, *extra: str) -> Iterator[SimProcess]:
    missing = rtsp_requirements_error()
    if missing:
        pytest.fail(missing, pytrace=False)
    cmd = [sys.executable, "-m", "simulators.camera.cli", "--mjpeg", str(mjpeg), "--rtsp", str(rtsp), *extra]
    cmd += ["--width", str(SIM_WIDTH), "--height", str(SIM_HEIGHT), "--fps", "10", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=camera_priority)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "camera simulator did not start"
        yield SimProcess(json.loads(line))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``pred`` every 50 ms; return the seconds it took, fail with ``what`` after ``timeout``."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def wait() -> Callable[[Callable[[], bool], float, str], Any]:
    return wait_until


@pytest.fixture(scope="module")
def watch_sim() -> Iterator[SimProcess]:
    """Important points at night (scene 'watch'): only the road's traffic moves until an action is set."""
    yield from run_sim(3, 2, "--scene", "watch")
