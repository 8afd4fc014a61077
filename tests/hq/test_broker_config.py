"""``hq-server broker-config`` for Debian's Mosquitto, and the units that reload it when HQ changes users."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_link.mosquitto import free_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "LANGUAGE": "en"}


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN / "hq-server", *map(str, args)], capture_output=True, text=True, timeout=60, env=ENV)


def test_debian_drop_in_and_shared_files(tmp_path: Path) -> None:
    data = tmp_path / "hq"
    make_ca(data / "tls", "xa-test")
    issue_server_cert(data / "tls", data / "tls", ["mqtt.xa-test.vn"])
    cfg = tmp_path / "hq.yaml"
    cfg.write_text(yaml.safe_dump({"commune": "xa-test", "data_dir": str(data), "broker": {
        "host": "127.0.0.1", "port": 1883, "managed": {"dir": str(data / "mosquitto")}}}))
    out = tmp_path / "conf.d" / "loaxa.conf"
    res = _run("broker-config", "--config", cfg, "--out", out)
    assert res.returncode == 0, res.stderr
    conf = out.read_text().splitlines()
    shared = data / "mosquitto"
    for line in ("allow_anonymous false", f"password_file {shared / 'passwd'}", f"acl_file {shared / 'acl'}",
                 "listener 1883 127.0.0.1", "listener 8883", f"certfile {shared / 'server.crt'}",
                 "autosave_interval 1", "set_tcp_nodelay true", "per_listener_settings false"):
        assert line in conf
    for name in ("passwd", "acl", "server.crt", "server.key"):
        assert (shared / name).stat().st_mode & 0o777 == 0o640, name
    assert (shared / "passwd").read_text().startswith("loaxa-hq:$7$")  # HQ's own login, hashed
    assert "topic readwrite loaxa/v1/xa-test/#" in (shared / "acl").read_text()
    # Mosquitto itself loads the generated file (it exits at once on an unknown or misplaced option)
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    loop_port, tls_port = free_port(), free_port()
    test_conf = tmp_path / "check.conf"
    test_conf.write_text(out.read_text().replace("listener 8883", f"listener {tls_port} 127.0.0.1").replace(
        "listener 1883 127.0.0.1", f"listener {loop_port} 127.0.0.1") + ("user root\n" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen([exe, "-c", test_conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)  # the drop-in leaves the persistence location to Debian: cwd here
    try:
        deadline = time.monotonic() + 20
        while not all(_accepting(p) for p in (loop_port, tls_port)):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "mosquitto never listened"
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_refused_without_a_managed_broker_or_certificate(tmp_path: Path) -> None:
    cfg = tmp_path / "hq.yaml"
    cfg.write_text(yaml.safe_dump({"commune": "xa-test", "data_dir": str(tmp_path / "hq")}))
    res = _run("broker-config", "--config", cfg, "--out", tmp_path / "x.conf")
    assert res.returncode == 2 and "managed" in res.stderr
    cfg.write_text(yaml.safe_dump({"commune": "xa-test", "data_dir": str(tmp_path / "hq"), "broker": {
        "managed": {"dir": str(tmp_path / "m")}}}))
    res = _run("broker-config", "--config", cfg, "--out", tmp_path / "x.conf")
    assert res.returncode == 2 and "make-server-cert" in res.stderr and not (tmp_path / "x.conf").exists()


def test_reload_units_verify() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing: scripts/setup.sh installs the systemd package")
    units = [REPO / "systemd" / "loaxa-broker-reload.path", REPO / "systemd" / "loaxa-broker-reload.service"]
    res = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
