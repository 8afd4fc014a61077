"""Detection's pure parts: settings, regions, motion, episodes, people, and the per-camera pipeline.

Frames come from the camera simulator's scenes (rendered and JPEG-encoded as the simulator serves them)
or are synthetic; no stream here (the live tests are in test_detection_live.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.camera.config import CameraConfig
from edge_agent.camera.detect_config import DetectionConfig, MotionSettings, PeopleSettings, in_windows
from edge_agent.camera.detector import CameraDetector, DetectedEvent
from edge_agent.camera.episodes import EpisodeTracker, Observation
from edge_agent.camera.health import to_gray
from edge_agent.camera.motion import MotionDetector
from edge_agent.camera.people import PeopleDetector
from edge_agent.camera.regions import Box, black_out, polygon_mask
from simulators.camera.actors import cart_sprite, composite, person_sprites
from simulators.camera.scene import SceneCamera

T0 = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)  # 22:00 in Ha Noi
ROAD = [[0.0, 0.7], [1.0, 0.7], [1.0, 1.0], [0.0, 1.0]]
PRIVACY = [[0.8, 0.05], [0.98, 0.05], [0.98, 0.4], [0.8, 0.4]]


# ------------------------------------------------------------------ settings


def test_active_hours_windows_wrap_past_midnight() -> None:
    assert in_windows([], time(3, 0))
    assert in_windows(["22:00-05:00"], time(23, 30)) and in_windows(["22:00-05:00"], time(4, 59))
    assert not in_windows(["22:00-05:00"], time(5, 0)) and not in_windows(["22:00-05:00"], time(12, 0))
    assert in_windows(["08:00-11:30", "13:00-24:00"], time(23, 59))
    assert not in_windows(["08:00-11:30"], time(11, 30))
    cfg = DetectionConfig(active_hours=["22:00-05:00"])
    assert cfg.active_at(T0)  # 15:00 UTC = 22:00 Asia/Ho_Chi_Minh
    assert not cfg.active_at(T0 - timedelta(hours=2))
    assert not DetectionConfig(enabled=False).active_at(T0)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"active_hours": ["22h-5h"]}, "HH:MM-HH:MM"),
        ({"active_hours": ["10:00-10:00"]}, "empty"),
        ({"active_hours": ["25:00-05:00"]}, "not a time"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"confirm_k": 4, "confirm_n": 3}, "confirm_k"),
        ({"events": ["person"], "people": {"enabled": False}}, "people.enabled"),
        ({"events": ["car"]}, "motion"),
        ({"masks": [[[0, 0], [1, 1]]]}, "at least 3"),
        ({"masks": [[[0, 0], [1.5, 0], [1, 1]]]}, "less than or equal to 1"),
        ({"motion": {"sensitivity": 0}}, "greater than or equal to 1"),
        ({"people": {"min_roi_height": 300, "max_roi_height": 200}}, "max_roi_height"),
        ({"speed": 3}, "Extra inputs"),
    ],
)
def test_bad_detection_settings_are_refused_with_a_reason(kw: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        DetectionConfig(**kw)  # type: ignore[arg-type]


def test_sensitivity_maps_to_a_grey_level_threshold() -> None:
    assert MotionSettings(sensitivity=70).pixel_threshold == pytest.approx(30.0)
    assert MotionSettings(sensitivity=100).pixel_threshold == pytest.approx(3.0)
    assert MotionSettings(sensitivity=1).pixel_threshold > MotionSettings(sensitivity=50).pixel_threshold


# ------------------------------------------------------------------ regions


def test_polygon_masks_cover_their_fraction_of_the_picture_and_black_out_paints_it() -> None:
    mask = polygon_mask([ROAD], 640, 360)
    assert 0.29 < np.count_nonzero(mask) / mask.size < 0.31
    assert mask[359, 0] == 255 and mask[0, 0] == 0
    frame = np.full((360, 640, 3), 200, np.uint8)
    black_out(frame, [PRIVACY])
    x0, y0, x1, y1 = Box(0.8, 0.05, 0.18, 0.35).pixels(640, 360)
    assert frame[y0 + 1: y1 - 1, x0 + 1: x1 - 1].max() == 0
    assert frame[200, 100].tolist() == [200, 200, 200]
    assert black_out(frame.copy(), []).mean() == frame.mean()


# ------------------------------------------------------------------ motion


def street(width: int = 640, height: int = 360, seed: int = 3) -> np.ndarray:
    return SceneCamera("s", width, height, seed=seed, scene="watch", noise=0)._bg.copy()


def gray(img: np.ndarray) -> np.ndarray:
    return to_gray(img, 320)


def test_motion_finds_an_object_where_it_is_and_ignores_masks() -> None:
    det = MotionDetector(MotionSettings(), ignore=[ROAD])
    base = street()
    assert det.detect(gray(base)).suppressed == "learning"
    assert not det.detect(gray(base)).moving
    moved = base.copy()
    cv2.rectangle(moved, (300, 100), (360, 220), (20, 200, 20), -1)
    result = det.detect(gray(moved))
    assert result.moving and result.suppressed is None
    box = result.boxes[0]
    assert box.x == pytest.approx(300 / 640, abs=0.03) and box.y == pytest.approx(100 / 360, abs=0.04)
    on_road = base.copy()
    cv2.rectangle(on_road, (300, 280), (400, 340), (20, 200, 20), -1)  # inside the ignored road
    det2 = MotionDetector(MotionSettings(), ignore=[ROAD])
    det2.detect(gray(base))
    assert not det2.detect(gray(on_road)).moving


def test_motion_ignores_a_global_light_change_and_small_shake() -> None:
    det = MotionDetector(MotionSettings())
    base = street()
    det.detect(gray(base))
    for factor in (0.5, 0.35, 1.3):
        assert not det.detect(gray(cv2.convertScaleAbs(base, alpha=factor, beta=5))).moving, factor
    for dx, dy in ((4, 0), (-6, 3), (0, -7)):
        shifted = cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, dy]]), (640, 360),
                                 borderMode=cv2.BORDER_REFLECT)
        result = det.detect(gray(shifted))
        assert not result.moving, (dx, dy, result)


def test_half_the_picture_changing_at_once_is_suppressed_not_reported() -> None:
    det = MotionDetector(MotionSettings())
    base = street()
    det.detect(gray(base))
    lamp = base.copy()
    lamp[:, :400] = cv2.convertScaleAbs(lamp[:, :400], alpha=0.3)  # a lamp beside the camera switches off
    result = det.detect(gray(lamp))
    assert not result.moving and result.suppressed == "global_change"
    assert not det.detect(gray(lamp)).moving  # the new light is the background now


def test_a_change_that_stays_becomes_background() -> None:
    det = MotionDetector(MotionSettings(absorb_after_frames=5))
    base = street()
    det.detect(gray(base))
    parked = base.copy()
    cv2.rectangle(parked, (100, 150), (200, 230), (200, 40, 40), -1)
    seen = [det.detect(gray(parked)).moving for _ in range(8)]
    assert seen[:4] == [True] * 4 and not seen[-1]


# ------------------------------------------------------------------ episodes


def obs(i: int, person: bool = False, motion: bool = False) -> Observation:
    box = Box(0.4, 0.3, 0.1, 0.4, score=1.2)
    return Observation(T0 + timedelta(seconds=2 * i), (box,) if motion or person else (), 3.0 if motion else 0.0,
                       (box,) if person else ())


def test_k_of_n_confirmation_then_one_event_per_episode() -> None:
    tracker = EpisodeTracker(DetectionConfig(confirm_k=2, confirm_n=3, end_after_s=10))
    assert tracker.update(obs(0, person=True)) == []  # one sighting is not enough
    assert tracker.update(obs(1)) == []
    first = tracker.update(obs(2, person=True))  # 2 of the last 3
    assert [(d.kind, d.score) for d in first] == [("person", 1.2)]
    assert all(tracker.update(obs(i, person=True)) == [] for i in range(3, 10))  # same person stays
    assert all(tracker.update(obs(i)) == [] for i in range(10, 16))  # gone for 12 s > end_after_s
    assert tracker.update(obs(16, person=True)) == []
    assert len(tracker.update(obs(17, person=True))) == 1  # a new episode


def test_isolated_sightings_never_confirm_and_kinds_are_independent() -> None:
    tracker = EpisodeTracker(DetectionConfig(events=["person", "motion"], confirm_k=2, confirm_n=3))
    for i in range(0, 30, 3):  # a person every third sample: never 2 of 3
        assert tracker.update(obs(i, person=True)) == []
        tracker.update(obs(i + 1))
        tracker.update(obs(i + 2))
    tracker.reset()
    tracker.update(obs(40, motion=True))
    assert [d.kind for d in tracker.update(obs(41, motion=True))] == ["motion"]


# ------------------------------------------------------------------ people


@pytest.fixture(scope="module")
def people() -> PeopleDetector:
    return PeopleDetector(PeopleSettings())


def test_hog_finds_the_photographed_person_and_not_a_cart_or_the_street(people: PeopleDetector) -> None:
    base = street()
    motion = [Box(0.3, 0.25, 0.2, 0.45)]
    assert people.detect(base, motion) == []
    for height in (120, 160, 220):
        sprite, alpha = person_sprites(height)[3]
        img = base.copy()
        composite(img, sprite, alpha, 260, 250 - height)
        found = people.detect(img, [Box(260 / 640, (250 - height) / 360, sprite.shape[1] / 640, height / 360)])
        assert found, height
        best = found[0]
        assert best.score is not None and best.score >= 0.5
        cx, cy = best.x + best.w / 2, best.y + best.h / 2
        assert abs(cx - (260 + sprite.shape[1] / 2) / 640) < 0.08 and abs(cy - (250 - height / 2) / 360) < 0.12
    cart, cart_alpha = cart_sprite(160)
    img = base.copy()
    composite(img, cart, cart_alpha, 260, 90)
    assert people.detect(img, [Box(260 / 640, 90 / 360, 80 / 640, 160 / 360)]) == []


# ------------------------------------------------------------------ the pipeline on simulated samples


def camera(events: list[str], **detection: object) -> CameraConfig:
    return CameraConfig(id="cong-truong", url="http://127.0.0.1/x", privacy_masks=[PRIVACY],
                        detection={"events": events, "masks": [ROAD], **detection})


def run_scene(action: str, *, events: list[str], scene: str = "watch", seconds: float = 24.0,
              width: int = 640, height: int = 360, seed: int = 3) -> list[DetectedEvent]:
    """Samples like the monitor's (6 frames at 10 fps every 2 s) of a simulated camera; action at 4 s."""
    cfg = camera(events)
    det = CameraDetector(cfg)
    cam = SceneCamera("s", width, height, seed=seed, scene=scene)
    out: list[DetectedEvent] = []
    t = 0.0
    while t < seconds:
        if t == 4.0 and action != "none":
            cam.set_action(action)
        at = T0 + timedelta(seconds=t)
        assert det.begin(at)
        for i in range(6):
            frame = cv2.imdecode(np.frombuffer(cam.jpeg(t + i * 0.1), np.uint8), cv2.IMREAD_COLOR)
            black_out(frame, cfg.privacy_masks)  # as capture does, before anything else
            det.observe(frame, to_gray(frame, 320))
        out += det.finish(at)
        t += 2.0
    return out


def test_a_person_crossing_is_one_person_event_with_a_picture() -> None:
    events = run_scene("person", events=["person"])
    assert [e.kind for e in events] == ["person"]
    ev = events[0]
    assert ev.score >= 0.5 and ev.boxes and (ev.width, ev.height) == (640, 360)
    picture = cv2.imdecode(np.frombuffer(ev.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (360, 640, 3)
    x0, y0, x1, y1 = ev.boxes[0].pixels(640, 360)
    assert picture[y0:y1, x0:x1, 2].max() > 200  # the red box is drawn


@pytest.mark.parametrize("action", ["lights", "shake", "none"])
def test_light_changes_shake_and_masked_traffic_raise_nothing(action: str) -> None:
    # 'none': the motorbike rides the masked road the whole time
    assert run_scene(action, events=["person", "motion"]) == []


def test_a_cart_is_motion_but_not_a_person() -> None:
    assert [e.kind for e in run_scene("object", events=["person", "motion"])] == ["motion"]


def test_privacy_masked_pixels_are_black_in_the_event_picture() -> None:
    events = run_scene("person", events=["person"])
    picture = cv2.imdecode(np.frombuffer(events[0].jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    x0, y0, x1, y1 = Box(0.8, 0.05, 0.18, 0.35).pixels(640, 360)
    inside = picture[y0 + 8: y1 - 8, x0 + 8: x1 - 8]  # JPEG blocks blur the outline by a few pixels
    assert inside.max() <= 16, inside.max()
    raw = cv2.cvtColor(SceneCamera("s", 640, 360, seed=3, scene="watch").render(0.0), cv2.COLOR_BGR2GRAY)
    assert raw[y0 + 8: y1 - 8, x0 + 8: x1 - 8].mean() > 60  # there is something to hide there


def test_outside_active_hours_nothing_is_analysed() -> None:
    det = CameraDetector(camera(["person"], active_hours=["06:00-18:00"]))
    assert not det.begin(T0)  # 22:00 local
    det.observe(street(), gray(street()))
    assert det.last_motion is None and det.finish(T0) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_a_shaking_camera_with_a_privacy_mask_shows_no_motion_at_the_mask_edge(seed: int) -> None:
    """A privacy region is black in every frame at the same place while the picture shakes around it.

    Aligning a shaken frame onto the background moves that black block with the picture; learning it
    smeared grey into the background beside the mask, and the next frame that sat exactly on the
    background showed motion along the mask's edge (a false alert once in a few minutes of shaking).
    One minute of samples like the monitor's: no frame may move, and no event.
    """
    cfg = camera(["person", "motion"])
    det = CameraDetector(cfg)
    cam = SceneCamera("s", 640, 360, seed=seed, scene="watch")
    cam.set_action("shake", 1000)
    moving, events = [], []
    for n in range(30):
        at = T0 + timedelta(seconds=2 * n)
        assert det.begin(at)
        for i in range(6):
            frame = cv2.imdecode(np.frombuffer(cam.jpeg(2 * n + i * 0.1), np.uint8), cv2.IMREAD_COLOR)
            black_out(frame, cfg.privacy_masks)
            det.observe(frame, to_gray(frame, 320))
            assert det.last_motion is not None
            if det.last_motion.moving:
                moving.append((n, i, det.last_motion.boxes))
        events += det.finish(at)
    assert moving == [] and events == [], moving[:3]
