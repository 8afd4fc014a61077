"""`hq-server run`'s embedded Mosquitto as a technician meets it: authenticated, node logins managed live."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge_agent.app import EdgeAgent
from loaxa_link.credentials import HQ_USER
from loaxa_link.mosquitto import free_port, running_pid
from loaxa_link.mqtt import LinkConfig, MqttLink
from simulators.nodes import simulated_node_config
from tests.conftest import COMMUNE, port_listening, require_binary, wait_until, wait_until_blocking

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@dataclass
class HqProcess:
    proc: subprocess.Popen[str]
    config: Path
    data_dir: Path
    mqtt_port: int
    http_port: int

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BIN / "hq-server", *args[:2], "--config", str(self.config), *args[2:]],
                              capture_output=True, text=True, timeout=60)


def start_hq_process(tmp_path: Path, name: str = "hq", mqtt_port: int | None = None) -> HqProcess:
    require_binary("mosquitto")
    data_dir = tmp_path / name
    mqtt_port, http_port = mqtt_port or free_port(), free_port()
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "commune": COMMUNE, "data_dir": str(data_dir), "embedded_broker": {"port": mqtt_port},
        "http": {"host": "127.0.0.1", "port": http_port}, "bulletins": {"tts_engines": ["espeak"]}}))
    proc = subprocess.Popen([BIN / "hq-server", "run", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    hq = HqProcess(proc, config, data_dir, mqtt_port, http_port)
    wait_until_blocking(lambda: port_listening(http_port) or proc.poll() is not None, 60, "HQ's HTTP port")
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    return hq


def stop_hq_process(hq: HqProcess) -> str:
    if hq.proc.poll() is None:
        hq.proc.send_signal(signal.SIGTERM)
    try:
        out, _ = hq.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        hq.proc.kill()
        out, _ = hq.proc.communicate()
    return out


@pytest.fixture
def hq_process(tmp_path: Path) -> Iterator[HqProcess]:
    hq = start_hq_process(tmp_path)
    yield hq
    stop_hq_process(hq)


async def _refused(port: int, user: str | None, password: str | None) -> bool:
    link = MqttLink(LinkConfig(port=port, client_id=f"probe-{user}", username=user, password=password,
                               session_expiry_s=0))
    await link.start()
    try:
        await link.wait_connected(1.5)
    except TimeoutError:
        return True
    finally:
        await link.stop()
    return False


async def test_node_credentials_are_added_and_revoked_on_the_running_broker(hq_process, tmp_path, hq_keys):
    hq = hq_process
    secret = hq.data_dir / "credentials" / "hq.secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and (secret.parent.stat().st_mode & 0o777) == 0o700
    assert await _refused(hq.mqtt_port, None, None), "the embedded broker must not accept anonymous clients"
    assert await _refused(hq.mqtt_port, HQ_USER, "guess")

    pw_file = tmp_path / "loa-1.password"
    added = hq.cli("node-credential", "add", "loa-1", "--zone", "thon-1", "--password-file", str(pw_file))
    assert added.returncode == 0, added.stderr
    assert "applied to the running broker" in added.stderr and pw_file.stat().st_mode & 0o777 == 0o600
    again = hq.cli("node-credential", "add", "loa-1")
    assert again.returncode == 1 and "already has a credential" in again.stderr
    shown = hq.cli("node-credential", "add", "loa-2")
    assert shown.returncode == 0 and len(shown.stdout.strip()) >= 32  # printed once, on stdout only

    cfg = simulated_node_config(tmp_path, node_id="loa-1", commune=COMMUNE, zones=["thon-1"], port=hq.mqtt_port,
                                hq_public_key=hq.data_dir / "keys" / "hq_ed25519.pub", sink="null",
                                broker__username="loa-1", broker__password_file=str(pw_file),
                                broker__keepalive_s=5)
    agent = EdgeAgent(cfg)
    await agent.start()
    try:
        await agent.link.wait_ready(20)
        listed = hq.cli("node-credential", "list")
        assert listed.returncode == 0 and "loa-1" in listed.stdout and "thon-1" in listed.stdout

        revoked = hq.cli("node-credential", "revoke", "loa-1")
        assert revoked.returncode == 0, revoked.stderr
        await wait_until(lambda: not agent.link.connected, 10, "revoked node disconnected by the reload")
        with pytest.raises(TimeoutError):
            await agent.link.wait_connected(3)
        assert await _refused(hq.mqtt_port, "loa-1", pw_file.read_text().strip())
        everything = hq.cli("node-credential", "list", "--all")
        assert "revoked" in everything.stdout and "loa-2" in everything.stdout
        assert hq.cli("node-credential", "revoke", "loa-1").returncode == 1  # nothing left to revoke
    finally:
        await agent.stop()
    assert running_pid(hq.data_dir / "broker") is not None
    out = stop_hq_process(hq)
    assert hq.proc.returncode == 0, out
    assert running_pid(hq.data_dir / "broker") is None, "HQ stops its broker"


def test_node_credential_refuses_an_external_broker(tmp_path):
    config = tmp_path / "hq.yaml"
    config.write_text(yaml.safe_dump({"commune": COMMUNE, "data_dir": str(tmp_path / "hq"),
                                      "broker": {"host": "127.0.0.1", "port": 1883}}))
    res = subprocess.run([BIN / "hq-server", "node-credential", "add", "--config", str(config), "loa-1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "external broker" in res.stderr
