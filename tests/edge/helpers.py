"""Shared helpers of the edge tests: audio fixtures, a self-signed loopback TLS server, a fake gTTS RPC."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def tone(seconds: float = 1.0, fmt: str = "mp3", freq: int = 440) -> bytes:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
         "-ac", "1", "-ar", "22050", "-f", fmt, "-"], capture_output=True, check=True)
    return out.stdout


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def gtts_response(mp3: bytes) -> bytes:
    b64 = base64.b64encode(mp3).decode()
    return (")]}'\n\n" + '[["wrb.fr","jQ1olc","[\\"' + b64 + '\\"]",null,null,null,"generic"]]\n').encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # gTTS's batchexecute RPC
        length = int(self.headers.get("Content-Length", 0))
        self.server.requests.append(self.rfile.read(length))
        if self.server.stall.is_set():
            self.server.stall_released.wait(10)
            return
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    body: bytes = b""
    requests: list[bytes]
    stall: threading.Event
    stall_released: threading.Event


@contextmanager
def fake_https(body: bytes, cert: tuple[Path, Path] | None = None) -> Iterator[_Server]:
    """A server on 127.0.0.1 answering every request with ``body`` (TLS if ``cert`` is given)."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.body, srv.requests = body, []
    srv.stall, srv.stall_released = threading.Event(), threading.Event()
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, name="fake-https", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stall_released.set()
        srv.shutdown()
        srv.server_close()
