"""Camera config validation gives precise errors; credentials never leak."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge_agent.camera.config import CameraConfig, CameraThresholds, redact


def err(**kw: object) -> str:
    with pytest.raises(ValidationError) as info:
        CameraConfig(**kw)  # type: ignore[arg-type]
    return str(info.value)


def test_defaults_are_sane() -> None:
    c = CameraConfig(id="cong-truong-1", url="rtsp://192.168.1.20:554/stream1")
    assert c.sample_interval_s == 10 and c.hysteresis.offline_after <= c.hysteresis.change_after
    assert c.open_url() == c.url
    # the goal: a silent camera is reported offline within 15 s (10 s interval + 2 probes of 2 s)
    assert c.worst_offline_s == 14.0


def test_worst_offline_arithmetic() -> None:
    c = CameraConfig(
        id="c",
        url="rtsp://10.0.0.1/s",
        sample_interval_s=5,
        confirm_interval_s=3,
        probe_timeout_s=1,
        hysteresis={"offline_after": 3},
    )
    assert c.worst_offline_s == 5 + 1 + 2 * 3


def test_missing_url() -> None:
    msg = err(id="cam-1")
    assert "url" in msg and "Field required" in msg


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"url": ""}, "camera url is empty"),
        ({"url": "ftp://x/y"}, "must start with rtsp://"),
        ({"url": "rtsp:///path"}, "has no host"),
        ({"url": "rtsp://admin:hunter2@10.0.0.1/s"}, "put credentials in 'username'/'password'"),
        ({"id": "Cam 1"}, "is not a valid id"),
        ({"expected_width": 640}, "set both expected_width and expected_height"),
        ({"min_fps": -1}, "min_fps"),
        ({"sample_interval_s": 0}, "sample_interval_s"),
        ({"sample_interval_s": 5, "confirm_interval_s": 6}, "confirm_interval_s (6.0) must be <="),
        ({"thresholds": {"blur_sharpness_min": -3}}, "thresholds.blur_sharpness_min"),
        ({"thresholds": {"black_brightness_max": 80, "covered_brightness_max": 40}}, "covered_brightness_max (40.0)"),
        ({"thresholds": {"bogus": 1}}, "Extra inputs are not permitted"),
        ({"hysteresis": {"offline_after": 0}}, "hysteresis.offline_after"),
        ({"password": "x"}, "password given without username"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_precise_errors(kw: dict[str, object], needle: str) -> None:
    base: dict[str, object] = {"id": "cam-1", "url": "rtsp://10.0.0.1/s"}
    base.update(kw)
    msg = err(**base)
    assert needle in msg
    assert "hunter2" not in msg


def test_credentials_inserted_and_redacted() -> None:
    c = CameraConfig(id="c", url="rtsp://10.0.0.1:554/s", username="admin", password="p@ss:w/rd")
    assert c.open_url() == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.1:554/s"
    assert "p@ss" not in repr(c) and "p@ss" not in str(c.model_dump())
    assert c.redact(f"failed {c.open_url()} and p@ss:w/rd") == "failed rtsp://***@10.0.0.1:554/s and ***"
    assert redact("http://u:v@h/x") == "http://***@h/x"


def test_thresholds_model() -> None:
    t = CameraThresholds(frozen_motion_max=1)
    assert t.frozen_motion_max == 1
    with pytest.raises(ValidationError, match="fps_tolerance"):
        CameraThresholds(fps_tolerance=0)
