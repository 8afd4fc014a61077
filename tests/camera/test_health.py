"""The pure classifier and hysteresis, with synthetic samples and frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from edge_agent.camera.config import CameraConfig
from edge_agent.camera.health import (
    FpsVerdict,
    HealthTracker,
    Sample,
    analyse_frames,
    frame_metrics,
    judge_fps,
    raw_status,
    stream_fps,
    to_gray,
)
from loaxa_contract.models import CameraStatus as S

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CFG = CameraConfig(id="cam-1", url="rtsp://10.0.0.2/stream", expected_width=640, expected_height=360, min_fps=10)


def ok_sample(i: int = 0, **kw: object) -> Sample:
    base = dict(
        at=T0 + timedelta(seconds=10 * i),
        reachable=True,
        fps=10.0,
        width=640,
        height=360,
        brightness=110.0,
        contrast=45.0,
        sharpness=800.0,
        frame_diff=4.0,
        motion=1.5,
        frames=6,
    )
    base.update(kw)
    return Sample(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        ({}, S.OK),
        ({"reachable": False}, S.OFFLINE),
        ({"brightness": 5.0, "contrast": 2.0, "motion": 0.0}, S.BLACK),
        ({"brightness": 70.0, "contrast": 3.0, "sharpness": 1.0}, S.COVERED),
        ({"motion": 0.0}, S.FROZEN),
        ({"sharpness": 10.0}, S.BLURRED),
        ({"width": 320, "height": 180}, S.WRONG_RESOLUTION),
        ({"fps": 2.0}, S.LOW_FPS),
        ({"fps": 9.0}, S.OK),  # within the 0.8 tolerance
        ({"fps": None}, S.OK),  # fps not measurable is not a fault
        ({"brightness": 8.0, "contrast": 30.0}, S.OK),  # dark night scene with lights is not "black"
    ],
)
def test_raw_status(kw: dict[str, object], want: S) -> None:
    assert raw_status(ok_sample(**kw), CFG)[0] is want


def test_relative_blur_uses_baseline() -> None:
    assert raw_status(ok_sample(sharpness=100.0), CFG, baseline_sharpness=800.0)[0] is S.BLURRED
    assert raw_status(ok_sample(sharpness=400.0), CFG, baseline_sharpness=800.0)[0] is S.OK


def feed(tracker: HealthTracker, samples: list[Sample]) -> list[S]:
    changes = []
    for s in samples:
        if tracker.update(s):
            changes.append(tracker.status)
    return changes


def test_hysteresis_counts() -> None:
    tr = HealthTracker(cfg=CFG, since=T0)
    assert feed(tr, [ok_sample(0)]) == [S.OK]  # first verdict at once
    # a single frozen sample between good ones never flaps
    assert feed(tr, [ok_sample(1, motion=0.0), ok_sample(2), ok_sample(3, motion=0.0), ok_sample(4)]) == []
    assert tr.status is S.OK
    # frozen needs change_after=3 consecutive samples
    assert feed(tr, [ok_sample(5, motion=0.0), ok_sample(6, motion=0.0)]) == []
    assert tr.pending
    assert feed(tr, [ok_sample(7, motion=0.0)]) == [S.FROZEN]
    assert tr.since == ok_sample(7).at
    assert not tr.pending
    # recovery needs recover_after=2
    assert feed(tr, [ok_sample(8)]) == []
    assert feed(tr, [ok_sample(9)]) == [S.OK]
    # offline needs offline_after=2
    assert feed(tr, [Sample.offline(T0, "x")]) == []
    assert feed(tr, [Sample.offline(T0, "x")]) == [S.OFFLINE]
    h = tr.health("cam-1", "node-1")
    assert h.status is S.OFFLINE and not h.reachable and h.detail == "x"


def test_first_verdict_ok_at_once_but_a_fault_is_confirmed() -> None:
    """One slow first sample (cameras opening together on a busy node) is not a low-fps alert."""
    tr = HealthTracker(cfg=CFG, since=T0)
    assert feed(tr, [ok_sample(0, fps=2.0)]) == []
    assert tr.status is S.UNKNOWN and tr.pending  # sampled again soon, to confirm or clear it
    assert feed(tr, [ok_sample(1)]) == [S.OK]
    assert tr.history == [(ok_sample(1).at, S.OK)]
    # a camera really offline at start is reported after offline_after samples, a real fault after change_after
    tr = HealthTracker(cfg=CFG, since=T0)
    assert feed(tr, [Sample.offline(T0, "x")]) == []
    assert feed(tr, [Sample.offline(T0, "x")]) == [S.OFFLINE]
    tr = HealthTracker(cfg=CFG, since=T0)
    assert feed(tr, [ok_sample(i, fps=2.0) for i in range(3)]) == [S.LOW_FPS]


def test_alternating_faults_reset_the_count() -> None:
    tr = HealthTracker(cfg=CFG, since=T0)
    feed(tr, [ok_sample(0)])
    noisy = [ok_sample(i, motion=0.0) if i % 2 else ok_sample(i, sharpness=5.0) for i in range(1, 20)]
    assert feed(tr, noisy) == []
    assert tr.status is S.OK


def test_healthy_noise_never_flaps() -> None:
    rng = np.random.default_rng(1)
    tr = HealthTracker(cfg=CFG, since=T0)
    samples = [
        ok_sample(
            i,
            brightness=float(rng.normal(110, 20)),
            sharpness=float(rng.uniform(300, 1500)),
            motion=float(rng.uniform(0.4, 3)),  # measured healthy: >= 0.40 %
            fps=float(rng.uniform(9, 11)),
        )
        for i in range(500)
    ]
    assert feed(tr, samples) == [S.OK]


def test_metrics_on_synthetic_frames() -> None:
    rng = np.random.default_rng(0)
    scene = (rng.integers(0, 2, (36, 64)) * 200).astype(np.uint8).repeat(10, 0).repeat(10, 1)
    noisy = np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)
    black = np.clip(rng.normal(3, 1.5, scene.shape), 0, 255).astype(np.uint8)
    sharp = frame_metrics(to_gray(noisy, 320))

    blurred = frame_metrics(to_gray(cv2.GaussianBlur(noisy, (0, 0), 8), 320))
    dark = frame_metrics(to_gray(black, 320))
    assert sharp.sharpness > 10 * blurred.sharpness
    assert dark.brightness < 10 and dark.contrast < 3
    g = to_gray(noisy, 320)
    assert g.shape == (180, 320)
    a = analyse_frames([g, g.copy(), g.copy()])
    assert a.frame_diff == 0.0 and a.motion == 0.0
    a2 = analyse_frames([g], previous=to_gray(scene, 320))
    assert a2.frame_diff is not None and a2.frame_diff > 0.3
    a3 = analyse_frames([g], previous=g[:10])
    assert a3.frame_diff == float("inf") and a3.motion == 100.0
    assert analyse_frames([g]).motion is None  # one frame, no previous: no evidence either way
    with pytest.raises(ValueError):
        analyse_frames([])


def _codec_noise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A still picture after another H.264 pass: ±1-2 grey levels on 8x8 blocks, like a new key frame."""
    h, w = gray.shape
    blocks = rng.integers(-2, 3, (h // 8 + 1, w // 8 + 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.clip(gray.astype(np.int16) + blocks, 0, 255).astype(np.uint8)


def test_codec_noise_is_frozen_motion_is_not() -> None:
    """Re-encoding noise above the old mean-difference threshold still reads as frozen; a small mover does not."""
    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur((rng.integers(0, 2, (360, 640)) * 200).astype(np.uint8), (0, 0), 2)
    still = [to_gray(_codec_noise(scene, rng), 320) for _ in range(6)]
    a = analyse_frames(still)
    assert a.frame_diff is not None and a.frame_diff > 0.25  # the old rule called this healthy
    assert a.motion is not None and a.motion <= CFG.thresholds.frozen_motion_max
    moving = []
    for i in range(6):  # a 20x12 px object (0.1 % of the picture) moving 4 px per frame
        img = scene.copy()
        cv2.rectangle(img, (100 + 4 * i, 200), (120 + 4 * i, 212), 30, -1)
        moving.append(to_gray(_codec_noise(img, rng), 320))
    m = analyse_frames(moving)
    assert m.motion is not None and m.motion > 2 * CFG.thresholds.frozen_motion_max


# ------------------------------------------------------------------ frame rate: the camera's pace or the reader's


def test_stream_fps_from_the_streams_own_timestamps() -> None:
    assert stream_fps([400.0, 500.0, 600.0, 700.0]) == pytest.approx(10.0)
    assert stream_fps([0.0, 333.3, 666.7, 1000.0]) == pytest.approx(3.0)
    assert stream_fps([None, None, 400.0, 500.0]) == pytest.approx(10.0)  # the first frames often have none
    assert stream_fps([400.0]) is None  # too few frames
    assert stream_fps([1497.5, 1996.3, None, 3000.1, 3497.7]) == pytest.approx(2.0, abs=0.01)  # one untimed frame
    assert stream_fps([None, None, None, 400.0]) is None  # one timed frame is not a rate
    assert stream_fps([400.0, 500.0, 100.0, 200.0]) is None  # reset: not a rate
    assert stream_fps([400.0, 500.0, 60_000.0, 60_100.0]) is None  # a jump of the clock: not a rate


def test_judge_fps_tells_a_slow_stream_from_a_reader_behind() -> None:
    floor = 8.0
    assert judge_fps(10.0, 10.0, floor) is FpsVerdict.OK
    assert judge_fps(4.0, 10.0, floor) is FpsVerdict.READER_BEHIND  # frames waited in the socket: the node is slow
    assert judge_fps(3.0, 3.0, floor) is FpsVerdict.STREAM_SLOW
    assert judge_fps(9.5, 3.0, floor) is FpsVerdict.STREAM_SLOW  # the camera's clock wins over a burst of arrivals
    assert judge_fps(3.0, None, floor) is FpsVerdict.STREAM_SLOW  # no stream clock, reader's waiting unknown
    assert judge_fps(3.0, None, floor, reader_idle=0.9) is FpsVerdict.STREAM_SLOW  # MJPEG: the reader waited for it
    assert judge_fps(4.0, None, floor, reader_idle=0.01) is FpsVerdict.READER_BEHIND  # every frame already there
    assert judge_fps(9.0, None, floor, reader_idle=0.01) is FpsVerdict.OK
    assert judge_fps(None, None, floor) is FpsVerdict.UNKNOWN


def test_a_healthy_camera_read_by_a_starved_node_is_not_low_fps() -> None:
    """A 10 fps RTSP camera whose frames a CPU-starved node reads at 4-5 fps stays ok, and says why."""
    status, detail = raw_status(ok_sample(fps=4.2, stream_fps=10.0), CFG)
    assert status is S.OK and "node behind" in detail and "4.2" in detail
    tr = HealthTracker(cfg=CFG, since=T0)
    assert feed(tr, [ok_sample(0)]) == [S.OK]
    assert feed(tr, [ok_sample(i, fps=4.0 + i % 2, stream_fps=10.0) for i in range(1, 10)]) == []
    assert tr.status is S.OK and not tr.pending
    health = tr.health("cam-1", "node-1")
    assert health.fps == 10.0 and "node behind" in (health.detail or "")  # the camera's pace is reported


def test_a_slow_camera_is_low_fps_by_its_timestamps_whatever_the_arrivals() -> None:
    status, detail = raw_status(ok_sample(fps=9.8, stream_fps=3.0), CFG)
    assert status is S.LOW_FPS and "3.0 fps" in detail and "timestamps" in detail
    tr = HealthTracker(cfg=CFG, since=T0)
    feed(tr, [ok_sample(0)])
    assert feed(tr, [ok_sample(i, fps=3.1, stream_fps=3.0) for i in range(1, 4)]) == [S.LOW_FPS]
    assert tr.health("cam-1", "node-1").fps == 3.0
