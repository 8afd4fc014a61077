"""Why a connection to the broker failed, in words a technician can act on.

paho raises whatever the socket, OpenSSL or the broker said (``[SSL: CERTIFICATE_VERIFY_FAILED]
certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)``); :func:`explain`
turns the exception :attr:`MqttLink.last_error <loaxa_link.mqtt.MqttLink.last_error>` kept into a
cause and a fix. Pure: no I/O, so every branch is unit-tested with constructed exceptions.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from loaxa_common.cli_text import _

# OpenSSL X509_V_ERR_* codes (stable across OpenSSL versions)
_EXPIRED = 10
_NOT_YET_VALID = 9
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}
_HOSTNAME_MISMATCH = {62, 64}


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    """Short cause key (for tests and logs): tls_expired, tls_unknown_ca, tls_hostname, tls_not_yet_valid,
    tls_other, tls_expected, reset, refused_credentials, refused, unreachable, dns, timeout, other."""
    message: str
    """The cause and what to do, in the technician's language."""


def explain(err: BaseException | None, host: str, port: int) -> Diagnosis:
    """Classify the failure of a connection to ``host:port``."""
    if err is None:
        return Diagnosis("timeout", _("no answer from the broker {host}:{port} in time (network, 4G signal, "
                                      "or a firewall dropping the packets)").format(host=host, port=port))
    if isinstance(err, ssl.SSLCertVerificationError):
        return _explain_verify(err, host)
    if isinstance(err, ssl.SSLError):
        text = str(err)
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return Diagnosis("tls_expected", _("the broker at {host}:{port} does not speak TLS on this port "
                                               "(plain MQTT port? use the TLS port, usually 8883)")
                             .format(host=host, port=port))
        if "CERTIFICATE_REQUIRED" in text or "certificate required" in text:
            return Diagnosis("tls_other", _("the broker requires a client certificate: set broker.tls.cert "
                                            "and broker.tls.key"))
        return Diagnosis("tls_other", _("TLS handshake with {host}:{port} failed: {error}")
                         .format(host=host, port=port, error=text))
    text = str(err)
    if "Not authorized" in text or "Bad user name or password" in text:
        return Diagnosis("refused_credentials", _("the broker refused this node's user name or password "
                                                  "(wrong password file, or the node's credential was revoked "
                                                  "at HQ): {error}").format(error=text))
    if isinstance(err, ConnectionResetError):
        return Diagnosis("reset", _("the broker at {host}:{port} closed the connection at once: with broker.tls "
                                    "set this is probably the plain MQTT port (use the TLS port, usually 8883), "
                                    "or the broker needs a client certificate").format(host=host, port=port))
    if isinstance(err, ConnectionRefusedError):
        return Diagnosis("refused", _("nothing listens on {host}:{port} (broker stopped, or wrong port)")
                         .format(host=host, port=port))
    if isinstance(err, socket.gaierror):
        return Diagnosis("dns", _("the name {host} cannot be resolved (wrong broker.host or no DNS on this "
                                  "network)").format(host=host))
    if isinstance(err, (TimeoutError, socket.timeout)):
        return Diagnosis("timeout", _("no answer from the broker {host}:{port} in time (network, 4G signal, "
                                      "or a firewall dropping the packets)").format(host=host, port=port))
    if "disconnected before CONNACK" in text or "no CONNACK" in text:
        return Diagnosis("tls_expected", _("the broker closed the connection before accepting it: a TLS port "
                                           "reached without TLS (set broker.tls), or the broker refused this "
                                           "client: {error}").format(error=text))
    if isinstance(err, OSError):
        return Diagnosis("unreachable", _("cannot reach {host}:{port}: {error}")
                         .format(host=host, port=port, error=err.strerror or text))
    return Diagnosis("other", _("connection to {host}:{port} failed: {error}").format(host=host, port=port,
                                                                                      error=text))


def _explain_verify(err: ssl.SSLCertVerificationError, host: str) -> Diagnosis:
    code = err.verify_code
    if code == _EXPIRED:
        return Diagnosis("tls_expired", _("the broker's certificate has EXPIRED: renew it at HQ "
                                          "(hq-server make-server-cert) and restart the broker"))
    if code == _NOT_YET_VALID:
        return Diagnosis("tls_not_yet_valid", _("the broker's certificate is not valid yet: this node's clock "
                                                "is probably wrong (check the time; timedatectl)"))
    if code in _UNKNOWN_ISSUER:
        return Diagnosis("tls_unknown_ca", _("the broker's certificate is not signed by the CA in broker.tls.ca "
                                             "(wrong or old CA file on this node, or a different server): "
                                             "copy the commune CA certificate from HQ again"))
    if code in _HOSTNAME_MISMATCH:
        return Diagnosis("tls_hostname", _("the broker's certificate is not issued for the name {host}: use "
                                           "in broker.host a name listed in the certificate, or issue the "
                                           "certificate with this name").format(host=host))
    return Diagnosis("tls_other", _("the broker's certificate was refused: {error}")
                     .format(error=err.verify_message or str(err)))
