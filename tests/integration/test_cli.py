"""The command-line tools as a technician uses them: real processes, real broker, real espeak-ng."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simulators.nodes import simulated_node_settings, write_node_yaml
from tests.conftest import COMMUNE, EXAMPLE_NODE_CONFIG, REPO

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def _node_yaml(tmp_path: Path, port: int, pub: Path, logins) -> Path:
    return write_node_yaml(tmp_path / "node.yaml", simulated_node_settings(
        tmp_path, node_id="loa-cli", commune=COMMUNE, zones=["thon-1"], port=port, hq_public_key=pub,
        **logins.ensure({"loa-cli": ["thon-1"]})["loa-cli"]))


def _hq_broker(broker) -> dict:
    user, password = broker.credentials.hq_login()
    return {"host": "127.0.0.1", "port": broker.port, "username": user, "password": password}


def test_keygen_then_send_to_a_running_agent(broker, tmp_path: Path, node_logins) -> None:
    hq_dir = tmp_path / "hq"
    hq_yaml = tmp_path / "hq.yaml"
    hq_yaml.write_text(yaml.safe_dump({"commune": COMMUNE, "data_dir": str(hq_dir), "broker": _hq_broker(broker)}))
    out = subprocess.run([BIN / "hq-server", "keygen", "--config", hq_yaml], capture_output=True, text=True,
                         timeout=30, check=True)
    assert "hq_ed25519.pub" in out.stdout
    again = subprocess.run([BIN / "hq-server", "keygen", "--config", hq_yaml], capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 2 and "already exists" in again.stderr

    node_yaml = _node_yaml(tmp_path, broker.port, hq_dir / "keys" / "hq_ed25519.pub", node_logins)
    agent = subprocess.Popen([BIN / "edge-agent", "run", "--config", node_yaml], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        # the agent subscribes before it publishes its retained birth: wait for "online"
        user, password = broker.credentials.hq_login()
        birth = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-u", user, "-P", password, "-C", "1",
                                "-W", "30", "-t", f"loaxa/v1/{COMMUNE}/node/loa-cli/state"],
                               capture_output=True, text=True, timeout=60)
        assert '"online"' in birth.stdout, (birth.stdout, birth.stderr)
        sent = subprocess.run(
            [BIN / "hq-server", "send", "--direct", "--config", hq_yaml, "--target", "node:loa-cli", "--expect", "1",
             "--timeout", "60", "--text", "Thông báo thử: họp thôn lúc 7h30."],
            capture_output=True, text=True, timeout=120,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "UNRECORDED" in sent.stderr  # the bypass says so before it sends
        lines = sent.stdout
        for stage in ("received", "rendered", "playing", "played"):
            assert f" {stage} " in lines or lines.rstrip().endswith(stage), lines
        assert "1 node(s) finished: loa-cli=played" in lines
        assert len(list((tmp_path / "loa-cli" / "played").glob("*.wav"))) == 1
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            log, _ = agent.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
            log, _ = agent.communicate()
    assert agent.returncode == 0, log
    assert "stopping on signal" in log


def test_send_times_out_with_nonzero_exit_when_nobody_answers(broker, tmp_path: Path) -> None:
    hq_yaml = tmp_path / "hq.yaml"
    hq_yaml.write_text(yaml.safe_dump({"commune": COMMUNE, "data_dir": str(tmp_path / "hq"),
                                       "broker": _hq_broker(broker)}))
    subprocess.run([BIN / "hq-server", "keygen", "--config", hq_yaml], check=True, capture_output=True, timeout=30)
    t0 = time.monotonic()
    sent = subprocess.run([BIN / "hq-server", "send", "--direct", "--config", hq_yaml, "--text", "Không ai nghe",
                           "--timeout", "2"], capture_output=True, text=True, timeout=60)
    assert sent.returncode == 2 and "0 node(s) finished" in sent.stdout
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["broker"].update(port=70000), "broker.port"),
    (lambda d: d["node"].update(id="Loa 1"), "node.id"),
    (lambda d: d.update(colour="red"), "colour: unknown setting"),
    (lambda d: d["broker"].update(keepalive=30), "broker.keepalive: unknown setting; did you mean `keepalive_s`?"),
    (lambda d: d["security"].update(hq_public_key="/nonexistent/hq.pub"), "security.hq_public_key"),
    (lambda d: d["audio"].update(sink="bluetooth"), "audio.sink"),
])
def test_bad_node_config_gives_precise_error(tmp_path: Path, hq_keys, mutate, expected: str) -> None:
    data = yaml.safe_load(EXAMPLE_NODE_CONFIG.read_text("utf-8"))
    data["security"]["hq_public_key"] = str(hq_keys[1])
    mutate(data)
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    res = subprocess.run([BIN / "edge-agent", "check-config", "--config", path], capture_output=True, text=True,
                         timeout=30, env={**os.environ, "LANGUAGE": "en"})
    assert res.returncode == 2
    assert expected in res.stderr, res.stderr
    assert str(path) in res.stderr


@pytest.mark.parametrize("example", ["speaker-node.example.yaml", "camera-node.example.yaml", "demo/speaker-node.yaml"])
def test_example_configs_are_valid(tmp_path: Path, hq_keys, example: str) -> None:
    from loaxa_common.certs import make_ca

    data = yaml.safe_load((REPO / "firmware_configs" / example).read_text("utf-8"))
    data["security"]["hq_public_key"] = str(hq_keys[1])
    if data["broker"].get("password_file"):  # production examples name the files a bundle brings
        (tmp_path / "mqtt-password").write_text("x\n")
        data["broker"]["password_file"] = str(tmp_path / "mqtt-password")
    if data["broker"].get("tls"):
        data["broker"]["tls"]["ca"] = str(make_ca(tmp_path / "pki", "xa-demo")[0])
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    res = subprocess.run([BIN / "edge-agent", "check-config", "--config", path], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
