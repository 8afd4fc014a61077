"""HQ config for a broker on the network: TLS sections, password from a file, paths anchored at the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hq_server.config import broker_tls_files, load_config, tls_listener
from loaxa_common.config import ConfigError


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "etc" / "hq.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_external_broker_with_tls_and_password_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"commune": "xa-demo", "broker": {
        "host": "mqtt.xa-demo.vn", "port": 8883, "username": "hq", "password_file": "hq.pass",
        "tls": {"ca": "tls/ca.crt"}}})
    (path.parent / "hq.pass").write_text("bi-mat\n")
    cfg = load_config(path)
    etc = path.parent.resolve()
    assert cfg.broker.tls.ca == etc / "tls" / "ca.crt"
    assert cfg.broker_password() == "bi-mat"
    assert broker_tls_files(cfg) == {"tls_ca": str(etc / "tls" / "ca.crt"), "tls_cert": None, "tls_key": None}


def test_password_and_password_file_are_exclusive(tmp_path: Path) -> None:
    path = _write(tmp_path, {"commune": "xa-demo", "broker": {"password": "a", "password_file": "b"}})
    with pytest.raises(ConfigError, match="either password or password_file"):
        load_config(path)


def test_missing_password_file_is_named(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"commune": "xa-demo", "broker": {"password_file": "nope"}}))
    with pytest.raises(ConfigError, match=r"broker\.password_file"):
        cfg.broker_password()


def test_embedded_broker_tls_listener(tmp_path: Path) -> None:
    path = _write(tmp_path, {"commune": "xa-demo", "embedded_broker": {
        "tls": {"cert": "/etc/loaxa/tls/server.crt", "key": "tls/server.key"}}})
    cfg = load_config(path)
    listener = tls_listener(cfg)
    assert listener.port == 8883 and listener.host == "0.0.0.0"
    assert listener.key == path.parent.resolve() / "tls" / "server.key"
    assert listener.lines()[0] == "listener 8883"
    assert tls_listener(load_config(_write(tmp_path, {"commune": "xa-demo"}))) is None


def test_hq_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hq_server import check_cli

    monkeypatch.setenv("LANGUAGE", "en")
    demo = _write(tmp_path, {"commune": "xa-demo", "data_dir": "var/hq"})
    assert check_cli.run(demo, strict=False) == 0
    out = capsys.readouterr().out
    assert "data_dir: relative path" in out and "no tls listener" in out
    assert check_cli.run(demo, strict=True) == 1
    prod = _write(tmp_path, {"commune": "xa-demo", "data_dir": "/var/lib/loaxa-hq", "embedded_broker": {
        "tls": {"cert": str(tmp_path / "server.crt"), "key": str(tmp_path / "server.key")}}})
    with pytest.raises(ConfigError, match=r"embedded_broker\.tls\.cert"):
        check_cli.run(prod, strict=True)
    (tmp_path / "server.crt").write_text("x")
    (tmp_path / "server.key").write_text("x")
    capsys.readouterr()
    assert check_cli.run(prod, strict=True) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_https_context_and_refusals(tmp_path: Path) -> None:
    from hq_server.config import https_context
    from loaxa_common.certs import issue_server_cert, make_ca

    make_ca(tmp_path / "pki", "xa-demo")
    cert, key = issue_server_cert(tmp_path / "pki", tmp_path / "pki", ["127.0.0.1"], stem="https")
    cfg = load_config(_write(tmp_path, {"commune": "xa-demo", "http": {"tls_cert": str(cert), "tls_key": str(key)}}))
    assert cfg.http.scheme == "https" and https_context(cfg) is not None
    _, other_key = issue_server_cert(tmp_path / "pki", tmp_path / "other", ["127.0.0.1"])
    bad = load_config(_write(tmp_path, {"commune": "xa-demo", "http": {"tls_cert": str(cert),
                                                                       "tls_key": str(other_key)}}))
    with pytest.raises(ConfigError, match=r"http\.tls_cert"):
        https_context(bad)
    with pytest.raises(ConfigError, match="both tls_cert and tls_key"):
        load_config(_write(tmp_path, {"commune": "xa-demo", "http": {"tls_cert": str(cert)}}))


@pytest.mark.integration
def test_hq_serves_https_verified_by_the_commune_ca(tmp_path: Path) -> None:
    import json
    import ssl
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from loaxa_common.certs import issue_server_cert, make_ca
    from loaxa_link.mosquitto import free_port

    ca, _ = make_ca(tmp_path / "pki", "xa-demo")
    cert, key = issue_server_cert(tmp_path / "pki", tmp_path / "pki", ["127.0.0.1"], stem="https")
    port = free_port()
    path = _write(tmp_path, {"commune": "xa-demo", "data_dir": str(tmp_path / "hq"), "embedded_broker": {"port": 0},
                             "http": {"host": "127.0.0.1", "port": port, "tls_cert": str(cert), "tls_key": str(key)}})
    proc = subprocess.Popen([Path(sys.executable).parent / "hq-server", "run", "--config", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v1/nodes", context=ctx, timeout=5)
            except urllib.error.HTTPError as err:  # reached HQ over verified TLS: it wants a login
                assert err.code == 401 and "error" in json.loads(err.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "HQ never answered on HTTPS"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
