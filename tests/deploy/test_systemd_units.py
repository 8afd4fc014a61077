"""The systemd units' promises, and the notify protocol spoken by the real processes they start.

``systemd-analyze verify`` of both units (rendered for this checkout by the install scripts) runs in
test_install_scripts.py. Here: the settings the docs rely on are where systemd reads them, and
``edge-agent run`` / ``hq-server run`` say READY=1, feed the watchdog from their event loop and say
STOPPING=1 on SIGTERM — over a real AF_UNIX datagram socket, as systemd listens.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loaxa_contract import signing
from loaxa_link.mosquitto import free_port
from simulators.nodes import simulated_node_settings, write_node_yaml
from tests.conftest import require_binary

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _sections(unit: str) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (REPO / "systemd" / unit).read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], {})
        elif line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize(("unit", "user"), [("loaxa-edge-agent.service", "loaxa"), ("loaxa-hq.service", "loaxa-hq")])
def test_unit_settings(unit: str, user: str) -> None:
    s = _sections(unit)
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(s["Unit"])  # read by systemd only in [Unit]
    svc = s["Service"]
    assert svc["Type"] == ["notify"] and svc["NotifyAccess"] == ["main"] and int(svc["WatchdogSec"][0]) >= 30
    assert svc["User"] == [user] and svc["ProtectSystem"] == ["strict"] and svc["NoNewPrivileges"] == ["true"]
    state = svc["StateDirectory"][0]
    assert svc["WorkingDirectory"] == [f"/var/lib/{state}"]
    assert svc["CapabilityBoundingSet"] == [""]


def test_edge_unit_groups_are_only_what_the_node_uses() -> None:
    assert _sections("loaxa-edge-agent.service")["Service"]["SupplementaryGroups"] == ["audio gpio video"]


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path
        self.messages: list[str] = []

    def wait_for(self, line: str, times: int = 1, timeout: float = 60.0) -> None:
        """Receive until ``line`` has arrived ``times`` times."""
        deadline = time.monotonic() + timeout
        while self.messages.count(line) < times:
            left = deadline - time.monotonic()
            assert left > 0, f"{line!r} not {times}x within {timeout}s; got {self.messages}"
            self.sock.settimeout(left)
            try:
                self.messages += self.sock.recv(4096).decode().splitlines()
            except TimeoutError:
                continue


def _notify_env(path: Path) -> dict[str, str]:
    # WATCHDOG_PID is left out: systemd sets it to the main pid, which the test cannot know in advance
    return {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}


def _lifecycle(cmd: list[str | Path], notify: NotifySocket) -> None:
    proc = subprocess.Popen(cmd, env=_notify_env(notify.path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1", times=3)  # every 0.2 s, from the event loop
        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.integration
def test_edge_agent_speaks_sd_notify(tmp_path: Path) -> None:
    require_binary("espeak-ng")
    _, pub = signing.generate_keypair(tmp_path / "keys")
    # no broker needed: the agent is ready (it plays what it holds) while it keeps reconnecting
    node_yaml = write_node_yaml(tmp_path / "node.yaml", simulated_node_settings(
        tmp_path, node_id="loa-sd", commune="xa-test", zones=["thon-1"], port=free_port(), hq_public_key=pub))
    notify = NotifySocket(tmp_path / "notify")
    _lifecycle([BIN / "edge-agent", "run", "--config", node_yaml], notify)
    assert notify.messages[0] == "READY=1"


@pytest.mark.integration
def test_hq_server_speaks_sd_notify(tmp_path: Path) -> None:
    require_binary("mosquitto")
    cfg = tmp_path / "hq.yaml"
    cfg.write_text(f"commune: xa-test\ndata_dir: {tmp_path / 'hq'}\nembedded_broker: {{port: 0}}\n"
                   f"http: {{host: 127.0.0.1, port: {free_port()}}}\n")
    notify = NotifySocket(tmp_path / "notify")
    _lifecycle([BIN / "hq-server", "run", "--config", cfg], notify)
    # Debian's mosquitto speaks sd_notify too: HQ's child must not inherit the socket and say READY=1
    assert notify.messages.count("READY=1") == 1, notify.messages
