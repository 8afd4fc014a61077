"""Camera simulators: synthetic moving scenes served as MJPEG over HTTP and as RTSP, with faults."""

from simulators.camera.scene import FAULTS, SceneCamera
from simulators.camera.server import CameraSimulator, SimulatedCamera

__all__ = ["FAULTS", "CameraSimulator", "SceneCamera", "SimulatedCamera"]
