"""Generated Mosquitto configuration for a commune broker on the network."""

from __future__ import annotations

from pathlib import Path

from loaxa_link.broker_conf import TlsListener, system_broker_conf


def test_tls_listener_lines() -> None:
    t = TlsListener(port=8883, cert=Path("/c/server.crt"), key=Path("/c/server.key"))
    assert t.lines() == ["listener 8883", "certfile /c/server.crt", "keyfile /c/server.key", "tls_version tlsv1.2"]
    bound = TlsListener(port=8883, cert=Path("/c/s.crt"), key=Path("/c/s.key"), host="10.0.0.1",
                        client_ca=Path("/c/ca.crt"))
    assert bound.lines()[0] == "listener 8883 10.0.0.1"
    assert bound.lines()[-2:] == ["cafile /c/ca.crt", "require_certificate true"]


def test_debian_drop_in_and_standalone() -> None:
    tls = TlsListener(port=8883, cert=Path("/c/s.crt"), key=Path("/c/s.key"))
    drop_in = system_broker_conf(loopback_port=1883, tls=tls, passwd=Path("/a/passwd"), acl=Path("/a/acl"))
    lines = drop_in.splitlines()
    for needed in ("per_listener_settings false", "allow_anonymous false", "password_file /a/passwd",
                   "acl_file /a/acl", "autosave_interval 1", "set_tcp_nodelay true", "listener 1883 127.0.0.1",
                   "listener 8883"):
        assert needed in lines
    # Debian's own mosquitto.conf sets these; a drop-in must not
    assert not any(line.startswith(("persistence_location", "log_dest", "pid_file")) for line in lines)
    full = system_broker_conf(loopback_port=1883, tls=None, passwd=Path("/a/passwd"), acl=Path("/a/acl"),
                              data_dir=Path("/d"))
    assert "persistence_location /d/" in full and "pid_file /d/mosquitto.pid" in full and "8883" not in full
