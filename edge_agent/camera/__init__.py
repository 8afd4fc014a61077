"""Camera health: OpenCV sampling of RTSP/HTTP cameras, a pure classifier with hysteresis, snapshots.

Public surface: :class:`CameraConfig`, :class:`CameraThresholds`, :class:`CameraMonitor`,
:func:`upload_snapshot`. See docs/camera.md.

Exports are resolved lazily (PEP 562): the node config imports :mod:`edge_agent.camera.config` on
every node, and a loudspeaker-only node must not pay for loading OpenCV and NumPy (~40 MB RSS).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CameraConfig": "config",
    "CameraThresholds": "config",
    "Hysteresis": "config",
    "redact": "config",
    "CameraError": "capture",
    "CaptureError": "capture",
    "CameraMonitor": "monitor",
    "Publish": "monitor",
    "SnapshotError": "monitor",
    "UnknownCamera": "monitor",
    "UploadError": "snapshot",
    "upload_snapshot": "snapshot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
