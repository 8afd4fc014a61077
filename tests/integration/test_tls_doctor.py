"""``edge-agent doctor`` against a real TLS broker: what a technician reads for each TLS problem."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_contract import signing
from loaxa_link.broker_conf import TlsListener
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto
from simulators.nodes import SimulatedLogins, simulated_node_settings, write_node_yaml
from tests.conftest import COMMUNE, require_binary

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def _doctor(tmp_path: Path, broker: Mosquitto, ca: Path, lang: str = "en_US.UTF-8") -> subprocess.CompletedProcess[str]:
    port = broker.tls.port
    keys = tmp_path / "keys"
    pub = keys / "hq_ed25519.pub" if keys.exists() else signing.generate_keypair(keys)[1]
    login = SimulatedLogins(broker.credentials, tmp_path / f"secrets-{port}", broker.data_dir).ensure(
        {"loa-tls": ["thon-1"]})["loa-tls"]
    node_yaml = write_node_yaml(tmp_path / "node.yaml", simulated_node_settings(
        tmp_path, node_id="loa-tls", commune=COMMUNE, zones=["thon-1"], port=port, hq_public_key=pub,
        broker__tls={"ca": str(ca)}, tts__engines=["espeak"], **login))
    env = {**os.environ, "LANG": lang, "LC_ALL": "", "LANGUAGE": ""}
    return subprocess.run([BIN / "edge-agent", "doctor", "--config", node_yaml, "--broker-timeout", "6"],
                          capture_output=True, text=True, timeout=120, env=env)


def _line(out: str, name: str) -> str:
    return next((line for line in out.splitlines() if f"] {name}:" in line), f"<no {name} line in>\n{out}")


def _broker(data: Path, cert: Path, key: Path) -> Mosquitto:
    require_binary("mosquitto")
    store = CredentialStore(data.parent / f"{data.name}-credentials", COMMUNE)
    return Mosquitto(data, store, tls=TlsListener(port=0, cert=cert, key=key, host="127.0.0.1")).start()


def test_doctor_on_tls_good_wrong_ca_and_expired_certificate(tmp_path: Path) -> None:
    pki, other = tmp_path / "pki", tmp_path / "other"
    make_ca(pki, COMMUNE)
    make_ca(other, "xa-khac")
    good_cert, good_key = issue_server_cert(pki, pki, ["127.0.0.1"])
    now = dt.datetime.now(dt.UTC)
    old_cert, old_key = issue_server_cert(pki, tmp_path / "old", ["127.0.0.1"],
                                          not_before=now - dt.timedelta(days=900), not_after=now - dt.timedelta(days=3))
    good = _broker(tmp_path / "b1", good_cert, good_key)
    expired = _broker(tmp_path / "b2", old_cert, old_key)
    try:
        ok = _doctor(tmp_path, good, pki / "ca.crt")
        assert _line(ok.stdout, "broker").startswith("[PASS]"), ok.stdout + ok.stderr
        assert _line(ok.stdout, "tls ca").startswith("[PASS]"), ok.stdout

        wrong = _doctor(tmp_path, good, other / "ca.crt")
        assert wrong.returncode == 1, wrong.stdout
        line = _line(wrong.stdout, "broker")
        assert line.startswith("[FAIL]") and "not signed by the CA in broker.tls.ca" in line, wrong.stdout

        # a Pi with no locale: Vietnamese
        vi = _doctor(tmp_path, good, other / "ca.crt", lang="C.UTF-8")
        line = _line(vi.stdout, "broker")
        assert line.startswith("[FAIL]") and "không do CA trong broker.tls.ca ký" in line, vi.stdout
        assert "mục kiểm tra đạt" in vi.stdout

        old = _doctor(tmp_path, expired, pki / "ca.crt")
        assert old.returncode == 1, old.stdout
        line = _line(old.stdout, "broker")
        assert line.startswith("[FAIL]") and "EXPIRED" in line, old.stdout
    finally:
        good.stop()
        expired.stop()


def test_doctor_flags_a_server_certificate_given_as_the_ca(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    make_ca(pki, COMMUNE)
    cert, key = issue_server_cert(pki, pki, ["127.0.0.1"])
    broker = _broker(tmp_path / "b", cert, key)
    try:
        out = _doctor(tmp_path, broker, cert)
        line = _line(out.stdout, "tls ca")
        assert line.startswith("[FAIL]") and "not a CA certificate" in line, out.stdout
        assert out.returncode == 1
    finally:
        broker.stop()
