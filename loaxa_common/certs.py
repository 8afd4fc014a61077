"""A small certificate authority for one commune, and reading certificates back.

Why our own CA: a commune's broker lives on a LAN or a 4G private APN, often with no public DNS
name, so a public certificate authority cannot issue for it. The commune CA signs the broker's
server certificate (with the names and addresses nodes use to reach it) and, optionally, HQ's
HTTPS certificate; nodes trust only that CA (``broker.tls.ca``). A deployment with a real
certificate skips this module and points nodes at the issuing CA's certificate instead.

Files are PEM; private keys are written 0600 and never overwritten silently (a replaced CA would
lock every node out). Keys are ECDSA P-256: small, fast on a Pi, accepted by Mosquitto's OpenSSL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity mainstream TLS clients accept for a server certificate


class CertError(ValueError):
    """A certificate or key file is missing, unreadable, or does not fit the request."""


@dataclass(frozen=True)
class CertInfo:
    """What a technician needs to know about a certificate (``describe``)."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    sha256: str

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or _now()) > self.not_after

    def not_yet_valid(self, now: dt.datetime | None = None) -> bool:
        return (now or _now()) < self.not_before

    def days_left(self, now: dt.datetime | None = None) -> float:
        return (self.not_after - (now or _now())).total_seconds() / 86400


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, *, overwrite: bool) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as err:
        raise CertError(f"{path} already exists; move it away first") from err
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, commune: str, *, days: int = CA_DAYS) -> tuple[Path, Path]:
    """Create ``ca.crt`` and ``ca.key`` (0600) in ``directory``; refuses to replace an existing CA key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"LoaXa commune CA {commune}", f"LoaXa {commune}")
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / CA_KEY, directory / CA_CERT
    _write_key(key_path, key, overwrite=False)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def split_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Split host names from IP addresses (a SAN of the wrong type would not match)."""
    dns, ips = [], []
    for name in names:
        try:
            ips.append(str(ipaddress.ip_address(name)))
        except ValueError:
            dns.append(name.strip().lower())
    if not dns and not ips:
        raise CertError("give at least one --name (host name or IP address nodes use to reach the server)")
    return dns, ips


def issue_server_cert(ca_dir: Path, out_dir: Path, names: list[str], *, stem: str = "server",
                      days: int = SERVER_DAYS, not_before: dt.datetime | None = None,
                      not_after: dt.datetime | None = None) -> tuple[Path, Path]:
    """Sign ``{stem}.crt`` / ``{stem}.key`` for ``names`` with the CA in ``ca_dir``.

    Every name goes into subjectAltName (clients match only SANs, not the common name): DNS names
    and IP addresses each with their own type. ``not_before`` / ``not_after`` override the validity
    (tests make an expired certificate with them).
    """
    dns, ips = split_names(names)
    ca_cert, ca_key = load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or start + dt.timedelta(days=days)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    org = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    cert = (
        x509.CertificateBuilder().subject_name(_name((dns or ips)[0], str(org[0].value) if org else "LoaXa"))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path, cert_path = out_dir / f"{stem}.key", out_dir / f"{stem}.crt"
    _write_key(key_path, key, overwrite=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = load_cert(ca_dir / CA_CERT)
    try:
        key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise CertError(f"{ca_dir / CA_KEY}: cannot read the CA private key: {err}") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{ca_dir / CA_KEY}: not an EC key made by make-ca")
    return cert, key


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except OSError as err:
        raise CertError(f"{path}: cannot read: {err.strerror or err}") from err
    except ValueError as err:
        raise CertError(f"{path}: not a PEM certificate ({err})") from err


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex (what the enrolment pin and docs show)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def describe(path: Path) -> CertInfo:
    cert = load_cert(path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                    not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                    dns_names=dns, ip_addresses=ips, is_ca=is_ca, sha256=fingerprint(cert))
