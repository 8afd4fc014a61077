"""Camera health: OpenCV sampling of RTSP/HTTP cameras, a pure classifier with hysteresis, snapshots.

Public surface: :class:`CameraConfig`, :class:`CameraThresholds`, :class:`CameraMonitor`,
:func:`upload_snapshot`. See docs/camera.md.
"""

from edge_agent.camera.capture import CameraError, CaptureError
from edge_agent.camera.config import CameraConfig, CameraThresholds, Hysteresis, redact
from edge_agent.camera.monitor import CameraMonitor, Publish, SnapshotError, UnknownCamera
from edge_agent.camera.snapshot import UploadError, upload_snapshot

__all__ = [
    "CameraConfig",
    "CameraError",
    "CameraMonitor",
    "CameraThresholds",
    "CaptureError",
    "Hysteresis",
    "Publish",
    "SnapshotError",
    "UnknownCamera",
    "UploadError",
    "redact",
    "upload_snapshot",
]
