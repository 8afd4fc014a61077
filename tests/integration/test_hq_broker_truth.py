"""HQ and its broker tell the truth: a dead embedded broker is restarted, an orphan is never attached to,
node states are ``unknown`` while HQ is cut off, and a camera is not ``ok`` once its node is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hq_server.app import EMBEDDED_BROKER, create_app
from hq_server.storage.tables import Alert, Camera, Node
from hq_server.web import DB, ORCH
from loaxa_contract import codec, topics
from loaxa_contract.models import CameraHealth, CameraStatus, NodeState
from loaxa_link.mosquitto import free_port, running_pid
from loaxa_link.mqtt import MqttLink
from tests.conftest import COMMUNE, node_link_config, port_listening, require_binary, wait_until, wait_until_blocking
from tests.hq.fixtures import Hq, hq_config, start_hq, wait_async  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


# ---------------------------------------------------------------- supervision of the embedded broker


async def test_a_killed_embedded_broker_is_restarted_within_seconds(tmp_path, hq_keys) -> None:
    require_binary("mosquitto")
    port = free_port()
    app = create_app(hq_config(tmp_path, hq_keys[0], None, None, port, embedded_broker={"port": 0}))
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        embedded, orch = app[EMBEDDED_BROKER], app[ORCH]
        await orch.wait_ready(15)
        old = embedded.broker.proc.pid
        assert running_pid(embedded.broker.data_dir) == old
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        await wait_until(lambda: not orch.link.connected, 15, "HQ notices its broker died")
        await wait_until(lambda: embedded.restarts == 1 and embedded.running, 15, "broker restarted")
        restarted_s = time.monotonic() - t0
        await orch.wait_ready(20)
        print(f"embedded broker back {restarted_s:.2f} s after kill -9; HQ reconnected "
              f"{time.monotonic() - t0:.2f} s after")
        assert restarted_s < 5
        new = running_pid(embedded.broker.data_dir)
        assert new is not None and new != old and embedded.last_exit == "exit code -9"
    finally:
        await client.close()
    assert running_pid(tmp_path / "hq" / "broker") is None, "HQ stops its broker"


# ---------------------------------------------------------------- node and camera state


class WillNode:
    """A node on its own credential whose last will carries a stale ``ts`` (an agent builds it at connect)."""

    def __init__(self, broker, node_logins, node: str, connected_at: datetime) -> None:
        self.node = node
        self.link = MqttLink(node_link_config(broker, node_logins, node, session_expiry_s=0))
        will = NodeState(node=node, state="offline", kind="camera", ts=connected_at)
        self.link.set_will(topics.node_state(COMMUNE, node), codec.encode(will))
        # like the agent: a retained "online" birth on every (re)connect
        self.link.config.birth = (topics.node_state(COMMUNE, node),
                                  codec.encode(NodeState(node=node, state="online", kind="camera")))

    async def start(self, cameras: list[str]) -> None:
        await self.link.start()
        await self.link.wait_ready(15)
        for cam in cameras:
            health = CameraHealth(camera=cam, node=self.node, status=CameraStatus.OK, reachable=True,
                                  since=datetime.now(UTC))
            await self.link.publish(topics.camera_health(COMMUNE, self.node, cam), codec.encode(health), retain=True)


async def _camera(hq: Hq, cam: str) -> dict:
    """The camera as the police see it ({} while HQ has not heard of it yet)."""
    status, body = await hq.call("GET", f"/api/v1/cameras/{cam}", role="police")
    assert status in (200, 404), body
    return body["camera"] if status == 200 else {}


async def test_cameras_turn_unknown_the_moment_their_nodes_will_arrives(start_hq, broker,  # noqa: F811
                                                                        node_logins) -> None:
    hq = await start_hq(alerts={"node_offline_after_s": 0})
    connected_at = datetime.now(UTC) - timedelta(hours=3)  # the agent started long ago
    node = WillNode(broker, node_logins, "cam-node-1", connected_at)
    await node.start(["cong-truong", "cho-xa"])

    async def cameras_ok() -> bool:
        return all([(await _camera(hq, c)).get("status") == "ok" for c in ("cong-truong", "cho-xa")])

    await wait_async(cameras_ok, 20, "cameras ok at HQ")
    cam = await _camera(hq, "cong-truong")
    assert cam["node_state"]["state"] == "online"  # the police see the node that watches the camera
    status, _ = await hq.call("GET", "/api/v1/nodes", role="police")
    assert status == 403  # ... without access to the fleet

    killed_at = datetime.now(UTC)
    await node.link.kill()  # the broker publishes the will

    async def unwatched() -> bool:
        return all([(await _camera(hq, c)).get("status") == "unknown" for c in ("cong-truong", "cho-xa")])

    await wait_async(unwatched, 20, "cameras unknown after the will")
    for name in ("cong-truong", "cho-xa"):
        cam = await _camera(hq, name)
        assert cam["status_reason"] == "mất kết nối với nút cam-node-1 (node offline)"
        assert cam["node_state"]["state"] == "offline"
        since = datetime.fromisoformat(cam["status_since"])
        assert killed_at - timedelta(seconds=1) <= since <= datetime.now(UTC), since  # HQ's receipt time
    async with hq.app[DB].sessions() as s:
        n = await s.get(Node, "cam-node-1")
        assert n.state_since >= killed_at - timedelta(seconds=1), "offline since the will arrived, not connect"

    async def offline_alert() -> Alert | None:
        async with hq.app[DB].sessions() as s:
            return await s.scalar(select(Alert).where(Alert.kind == "node_offline"))

    await wait_async(offline_alert, 20, "node offline alert")
    alert = await offline_alert()
    assert connected_at.isoformat(timespec="seconds") not in (alert.detail or "") + alert.message
    assert datetime.fromisoformat(alert.context["node"]["since"]) >= killed_at - timedelta(seconds=1)

    # retained health from before the death does not bring the cameras back (e.g. after HQ restarts)
    async with hq.app[DB].sessions() as s:
        assert (await s.get(Camera, "cong-truong")).status == "unknown"


async def test_node_states_are_unknown_while_hq_is_cut_off_from_the_broker(start_hq, broker,  # noqa: F811
                                                                           node_logins) -> None:
    hq = await start_hq()
    node = WillNode(broker, node_logins, "loa-1", datetime.now(UTC))
    await node.start(["cong-xa"])

    async def listing() -> dict:
        status, body = await hq.call("GET", "/api/v1/nodes", role="technician")
        assert status == 200
        return body

    async def node_online() -> bool:
        return [n["state"] for n in (await listing())["nodes"]] == ["online"]

    await wait_async(node_online, 20, "node online")
    broker.stop()
    await wait_until(lambda: not hq.orch.link.connected, 20, "HQ notices the broker is gone")
    body = await listing()
    assert body["broker_connected"] is False and body["online"] == 0
    (n,) = body["nodes"]
    # (Mosquitto may publish the node's will while it shuts down: the last thing HQ heard is kept apart)
    assert n["state"] == "unknown" and n["last_known_state"] in ("online", "offline") and "broker" in n["state_reason"]
    cam = await _camera(hq, "cong-xa")
    assert cam["status"] == "unknown" and cam["node_state"]["state"] == "unknown"

    broker.start()
    await hq.orch.wait_ready(30)
    await node.link.wait_ready(30)
    await wait_async(node_online, 20, "node online again")
    await node.link.stop()


# ---------------------------------------------------------------- one HQ per data dir, no orphan broker


def _hq_yaml(tmp_path: Path, data_dir: Path, mqtt_port: int, http_port: int, name: str = "hq") -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "commune": COMMUNE, "data_dir": str(data_dir), "embedded_broker": {"port": mqtt_port},
        "http": {"host": "127.0.0.1", "port": http_port}, "bulletins": {"tts_engines": ["espeak"]}}))
    return config


def _run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([BIN / "hq-server", "run", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _kill_pid(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_hqs_orphan_broker_is_reclaimed_and_a_second_hq_refused(tmp_path) -> None:
    require_binary("mosquitto")
    data_dir, mqtt_port, http_port = tmp_path / "hq", free_port(), free_port()
    config = _hq_yaml(tmp_path, data_dir, mqtt_port, http_port)
    first = _run(config)
    orphan = None
    try:
        wait_until_blocking(lambda: port_listening(http_port) or first.poll() is not None, 60, "first HQ")
        orphan = running_pid(data_dir / "broker")
        assert orphan is not None
        first.kill()  # kill -9: the broker (its own session) outlives HQ
        first.communicate(timeout=10)
        assert running_pid(data_dir / "broker") == orphan and port_listening(mqtt_port)

        second = _run(config)
        try:
            wait_until_blocking(lambda: port_listening(http_port) or second.poll() is not None, 60, "second HQ")
            assert second.poll() is None
            fresh = running_pid(data_dir / "broker")
            assert fresh is not None and fresh != orphan, "the orphan was stopped, a supervised broker started"
            assert not Path(f"/proc/{orphan}").exists() or "Z" in Path(f"/proc/{orphan}/stat").read_text()

            # a third HQ on the same data dir while the second runs: refused, the running one untouched
            other = _hq_yaml(tmp_path, data_dir, free_port(), free_port(), name="hq-again")
            third = subprocess.run([BIN / "hq-server", "run", "--config", str(other)], capture_output=True,
                                   text=True, timeout=60)
            assert third.returncode == 2, third.stdout + third.stderr
            assert "Một HQ khác" in third.stderr and "another HQ" in third.stderr
            assert "Traceback" not in third.stderr
            assert running_pid(data_dir / "broker") == fresh and second.poll() is None
        finally:
            out = _stop(second)
        assert second.returncode == 0, out
        assert "left running by an earlier HQ" in out
        assert running_pid(data_dir / "broker") is None
    finally:
        if first.poll() is None:
            first.kill()
        _kill_pid(running_pid(data_dir / "broker"))


def test_a_busy_broker_port_is_a_clean_error_with_no_broker_left(tmp_path) -> None:
    require_binary("mosquitto")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        port = squatter.getsockname()[1]
        config = _hq_yaml(tmp_path, tmp_path / "hq", port, free_port())
        res = subprocess.run([BIN / "hq-server", "run", "--config", str(config)], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"cổng MQTT {port} đang bị chương trình khác dùng" in res.stderr and "Traceback" not in res.stderr
        assert running_pid(tmp_path / "hq" / "broker") is None
    finally:
        squatter.close()


def test_hq_failing_after_its_broker_started_leaves_no_orphan(tmp_path) -> None:
    require_binary("mosquitto")
    data_dir = tmp_path / "hq"
    (data_dir / "keys").mkdir(parents=True)
    (data_dir / "keys" / "hq_ed25519.key").write_text("not a key\n")  # the orchestrator refuses it
    config = _hq_yaml(tmp_path, data_dir, free_port(), free_port())
    res = subprocess.run([BIN / "hq-server", "run", "--config", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert running_pid(data_dir / "broker") is None
    assert not (data_dir / "broker" / "mosquitto.pid").exists()
