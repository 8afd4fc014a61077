"""``edge-agent doctor``: a technician's pass/fail list for one node, non-zero exit on any failure.

Checks: config, HQ key (its fingerprint, to compare with HQ's), broker reachability and credentials
(a real MQTT CONNECT), duplicate node id (another device taking this node's broker session), audio
device (opened for real: 0.1 s of silence), amplifier relay GPIO, disk space, clock synchronisation
(unknown is a warning), TTS engines (each one synthesises a word), each camera (opened, one frame),
state directory writable, job store readable.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from edge_agent.config import NodeConfig, hq_key_fingerprint
from edge_agent.config_lint import production_warnings
from edge_agent.control import takeover
from edge_agent.device.health import clock_offset_ms, disk_free_bytes
from edge_agent.doctor_tls import check_tls_files
from loaxa_common.cli_text import _
from loaxa_link.diagnose import explain

if TYPE_CHECKING:
    from edge_agent.camera.config import CameraConfig
    from loaxa_link.mqtt import MqttLink

MIN_FREE_BYTES = 200 * 1024 * 1024
DUPLICATE_RECENT = timedelta(days=1)
"""A session takeover this recent means another device still uses this node's id."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warn_only: bool = False


def _try(name: str, fn: Callable[[], tuple[bool, str]], warn_only: bool = False) -> Check:
    try:
        ok, detail = fn()
    except Exception as err:
        ok, detail = False, f"{type(err).__name__}: {err}"
    return Check(name, ok, detail, warn_only)


async def check_broker(config: NodeConfig, timeout: float = 8.0) -> Check:
    from loaxa_link.mqtt import LinkConfig, MqttLink

    b = config.broker
    link = MqttLink(LinkConfig(host=b.host, port=b.port, client_id=f"doctor-{config.node.id}", username=b.username,
                               password=config.broker_password(), tls_ca=str(b.tls.ca) if b.tls else None,
                               tls_cert=str(b.tls.cert) if b.tls and b.tls.cert else None,
                               tls_key=str(b.tls.key) if b.tls and b.tls.key else None,
                               session_expiry_s=60, reconnect_max_s=2))
    await link.start()
    try:
        await _wait_outcome(link, b.host, b.port, timeout)
        if link.connected:
            detail = _("connected to {host}:{port}").format(host=b.host, port=b.port)
            detail += (" " + _("as {user}").format(user=b.username) if b.username else "") + (" (TLS)" if b.tls else "")
            return Check("broker", True, detail)
        return Check("broker", False, explain(link.last_error, b.host, b.port).message)
    finally:
        await link.stop()


# failures that retrying cannot fix: report them at once instead of waiting out the timeout
_DEFINITIVE = {"tls_expired", "tls_unknown_ca", "tls_hostname", "tls_not_yet_valid", "refused_credentials"}


async def _wait_outcome(link: MqttLink, host: str, port: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not link.connected:
        err = link.last_error
        if err is not None and explain(err, host, port).cause in _DEFINITIVE:
            return
        await asyncio.sleep(0.05)


def run_checks(config: NodeConfig, *, broker_timeout: float = 8.0, raw: dict[str, Any] | None = None) -> list[Check]:
    from edge_agent.app import make_relay_backend
    from edge_agent.playback.sinks import make_sink
    from edge_agent.programme.scheduler import open_store_engine
    from loaxa_speech.audio import check_audio
    from loaxa_speech.tts.engines.base import SpeechRequest
    from loaxa_speech.tts.registry import build_engine

    checks = [Check("config", True, _("node {node}, commune {commune}").format(node=config.node.id,
                                                                          commune=config.node.commune))]
    if raw is not None:  # demo-only settings left on a node
        checks += [Check(f"config {w.field}", False, w.message, warn_only=True)
                   for w in production_warnings(config, raw)]
    checks += [Check(name, ok, detail, warn) for name, ok, detail, warn in check_tls_files(config)]
    checks.append(_try("hq key", lambda: (True, _("fingerprint {fp} (must match what hq-server prints)").format(
        fp=hq_key_fingerprint(config, "config")))))
    checks.append(asyncio.run(check_broker(config, broker_timeout)))
    checks.append(_try("node id", lambda: check_node_id(config)))
    sink = make_sink(config.audio.sink, file_dir=config.audio.file_dir, alsa_device=config.audio.alsa_device)
    checks.append(_try(f"audio ({config.audio.sink})", sink.probe))
    checks.append(_try(f"amplifier relay ({config.amplifier.backend})", make_relay_backend(config).check))

    def disk() -> tuple[bool, str]:
        free = disk_free_bytes(config.state_dir if config.state_dir.exists() else config.state_dir.parent)
        return (free is not None and free > MIN_FREE_BYTES), _("{mb} MB free").format(mb=f"{(free or 0) / 1e6:.0f}")

    checks.append(_try("disk", disk))

    def state_dir() -> tuple[bool, str]:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        probe = config.state_dir / ".doctor"
        probe.write_text("ok")
        probe.unlink()
        open_store_engine(config.state_dir / "jobs.sqlite").dispose()
        return True, _("{path} writable, job store opens").format(path=config.state_dir)

    checks.append(_try("state dir", state_dir))

    def clock() -> tuple[bool, str]:
        offset, how = clock_offset_ms()
        if offset is not None:
            return abs(offset) < 50, f"offset {offset:+.1f} ms ({how})"
        return False, _("offset unknown: {how}; synchronised starts between loudspeakers need NTP (chrony)").format(
            how=how)

    checks.append(_try("clock", clock, warn_only=True))
    for name in config.tts.engines:
        def speak(name: str = name) -> tuple[bool, str]:
            engine = build_engine(name, config.tts.engine_options.get(name))
            if not engine.available():
                why = engine.unavailable_reason()
                return False, _("not available on this node") + (f": {why}" if why else "")
            result = engine.synthesize(SpeechRequest("Xin chào", voice=engine.resolve_voice(config.tts.voice),
                                                     rate_wpm=config.tts.rate_wpm))
            return True, f"{check_audio(result.audio, result.fmt):.2f}s of {result.fmt} ({engine.quality.value})"

        # gTTS needs the Internet: a failure is a warning while an offline engine works
        checks.append(_try(f"tts {name}", speak, warn_only=(name == "gtts")))
    checks.append(_try("ffmpeg", lambda: (shutil.which("ffmpeg") is not None, shutil.which("ffmpeg") or "missing")))
    checks += [_try(f"camera {cam.id}", lambda cam=cam: check_camera(cam)) for cam in config.cameras]
    return checks


def check_node_id(config: NodeConfig, now: datetime | None = None) -> tuple[bool, str]:
    """Another device with this node's id makes the broker hand the session back and forth; the agent
    records each takeover (the doctor cannot connect with the node's own id without causing one)."""
    seen = takeover.read(config.state_dir)
    now = now or datetime.now(UTC)
    if seen is None or now - seen.last_at > DUPLICATE_RECENT:
        return True, _("no other device has taken this node's broker session (id {node})").format(node=config.node.id)
    return False, _("another device uses the node id {node}: the broker gave this node's session to it {n} time(s), "
                    "last at {at}; give each device its own id").format(node=config.node.id, n=seen.count,
                                                                          at=seen.last_at.isoformat(timespec="seconds"))


def check_camera(cam: CameraConfig) -> tuple[bool, str]:
    """Open the camera's stream with its timeouts and read one frame (OpenCV, as the monitor does)."""
    from edge_agent.camera.capture import configure_ffmpeg, grab_frame

    configure_ffmpeg()
    t0 = time.monotonic()
    frame = grab_frame(cam)
    height, width = frame.shape[:2]
    return True, _("{url}: a {w}x{h} frame in {ms} ms").format(url=cam.safe_url, w=width, h=height,
                                                             ms=int((time.monotonic() - t0) * 1000))


def report(checks: list[Check]) -> tuple[str, int]:
    lines, failed = [], 0
    for c in checks:
        mark = "PASS" if c.ok else ("WARN" if c.warn_only else "FAIL")
        failed += (not c.ok and not c.warn_only)
        lines.append(f"[{mark}] {c.name}: {c.detail}")
    summary = _("{passed}/{total} checks passed").format(passed=len(checks) - failed, total=len(checks))
    lines.append(summary + (", " + _("{n} FAILED").format(n=failed) if failed else ""))
    return "\n".join(lines), (1 if failed else 0)
