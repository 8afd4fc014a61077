"""The commune CA helper: names in subjectAltName, key files private, nothing overwritten by mistake."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from loaxa_common.certs import CertError, describe, issue_server_cert, make_ca, split_names


def test_ca_and_server_certificate(tmp_path: Path) -> None:
    ca_cert, ca_key = make_ca(tmp_path, "xa-demo")
    assert ca_key.stat().st_mode & 0o777 == 0o600
    ca = describe(ca_cert)
    assert ca.is_ca and "xa-demo" in ca.subject and ca.days_left() > 3600
    cert, key = issue_server_cert(tmp_path, tmp_path / "srv", ["MQTT.xa-demo.vn", "10.8.0.1", "::1"])
    assert key.stat().st_mode & 0o777 == 0o600
    info = describe(cert)
    assert info.dns_names == ("mqtt.xa-demo.vn",)
    assert info.ip_addresses == ("10.8.0.1", "::1")
    assert not info.is_ca and info.issuer == ca.subject and len(info.sha256) == 64
    # OpenSSL itself accepts the chain for the server name (what a node does)
    ctx = ssl.create_default_context(cafile=str(ca_cert))
    ctx.load_cert_chain(cert, key)  # the key matches the certificate


def test_an_existing_ca_key_is_never_replaced(tmp_path: Path) -> None:
    make_ca(tmp_path, "xa-demo")
    before = (tmp_path / "ca.key").read_bytes()
    with pytest.raises(CertError, match="already exists"):
        make_ca(tmp_path, "xa-demo")
    assert (tmp_path / "ca.key").read_bytes() == before


def test_explicit_validity_makes_an_expired_certificate(tmp_path: Path) -> None:
    make_ca(tmp_path, "xa-demo")
    now = dt.datetime.now(dt.UTC)
    cert, _ = issue_server_cert(tmp_path, tmp_path, ["127.0.0.1"], not_before=now - dt.timedelta(days=10),
                                not_after=now - dt.timedelta(days=1))
    info = describe(cert)
    assert info.expired() and info.days_left() < 0


def test_names_are_split_by_type_and_required() -> None:
    assert split_names(["a.vn", "192.168.1.2"]) == (["a.vn"], ["192.168.1.2"])
    with pytest.raises(CertError):
        split_names([])


def test_unreadable_or_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="cannot read"):
        describe(tmp_path / "missing.crt")
    (tmp_path / "junk.crt").write_text("not a certificate")
    with pytest.raises(CertError, match="not a PEM certificate"):
        describe(tmp_path / "junk.crt")
    with pytest.raises(CertError, match=r"ca\.crt"):
        issue_server_cert(tmp_path, tmp_path, ["x.vn"])
