"""Every connection failure a technician meets gets a cause and a fix (pure: constructed exceptions)."""

from __future__ import annotations

import socket
import ssl

import pytest

from loaxa_link.diagnose import explain
from loaxa_link.mqtt import LinkError


def _verify(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    err.verify_code, err.verify_message = code, message
    return err


@pytest.mark.parametrize(("err", "cause", "hint"), [
    (_verify(10, "certificate has expired"), "tls_expired", "EXPIRED"),
    (_verify(9, "certificate is not yet valid"), "tls_not_yet_valid", "clock"),
    (_verify(20, "unable to get local issuer certificate"), "tls_unknown_ca", "broker.tls.ca"),
    (_verify(19, "self-signed certificate in certificate chain"), "tls_unknown_ca", "broker.tls.ca"),
    (_verify(62, "Hostname mismatch"), "tls_hostname", "mqtt.xa.vn"),
    (_verify(50, "application verification failure"), "tls_other", "application verification failure"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls_expected", "8883"),
    (LinkError("broker refused connection: Not authorized"), "refused_credentials", "revoked"),
    (LinkError("broker refused connection: Bad user name or password"), "refused_credentials", "password"),
    (ConnectionRefusedError(111, "Connection refused"), "refused", "nothing listens"),
    (ConnectionResetError(104, "Connection reset by peer"), "reset", "8883"),
    (socket.gaierror(-2, "Name or service not known"), "dns", "mqtt.xa.vn"),
    (TimeoutError(), "timeout", "4G"),
    (None, "timeout", "4G"),
    (LinkError("disconnected before CONNACK: Unspecified error"), "tls_expected", "broker.tls"),
    (OSError(113, "No route to host"), "unreachable", "No route to host"),
    (RuntimeError("strange"), "other", "strange"),
])
def test_explain(err: BaseException | None, cause: str, hint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "en")
    d = explain(err, "mqtt.xa.vn", 8883)
    assert d.cause == cause
    assert hint in d.message
