"""A node's provisioning bundle: everything a new Pi needs to join the commune, made at HQ.

Files (all a node reads from ``/etc/loaxa``):

* ``node.yaml`` — its production configuration: id, commune, zones, kind; the broker's name and TLS
  port, its own login; HQ's URL; ALSA and the gpioset relay; state under ``/var/lib/loaxa``.
* ``ca.crt`` — the CA the node trusts for the broker (and HQ's HTTPS, when HQ serves it itself).
* ``hq_ed25519.pub`` — HQ's command-signing key; a command not signed by it is refused.
* ``mqtt-password`` — the node's broker password (issued by the credential store; shown nowhere else).

Pure: values in, files out. The settings are built here in code rather than read from
``firmware_configs/`` (an installed HQ has no checkout); a test keeps them equal to the production
example file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from loaxa_common.certs import fingerprint
from loaxa_contract import signing
from loaxa_contract.enrolment import Bundle

NODE_ETC = "/etc/loaxa"
NODE_STATE = "/var/lib/loaxa/state"
Kind = Literal["speaker", "camera", "mixed"]
_PRIVATE = {"node.yaml": 0o640, "mqtt-password": 0o600}


@dataclass(frozen=True)
class NodeRequest:
    node: str
    zones: tuple[str, ...]
    kind: Kind = "speaker"


@dataclass(frozen=True)
class Endpoints:
    """How a node reaches the commune: the broker (TLS) and HQ's base URL (audio by hash)."""

    broker_host: str
    broker_port: int
    hq_url: str
    hq_https_by_ca: bool = False
    """HQ's HTTPS certificate is signed by the bundle's CA (the node then verifies HQ with ca.crt)."""


def write_bundle(bundle: Bundle, directory: Path) -> list[Path]:
    """Write the files (password 0600, config 0640, certificates 0644) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in bundle.files.items():
        path = directory / name
        mode = _PRIVATE.get(name, 0o644)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)
        written.append(path)
    return written


def key_fingerprint(public_pem: bytes) -> str:
    """HQ's key fingerprint as every tool prints it (``signing.fingerprint``): read aloud to check a node."""
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("HQ's public key is not an Ed25519 key")
    return signing.fingerprint(key)


def node_settings(req: NodeRequest, ends: Endpoints, *, etc: str = NODE_ETC,
                  state_dir: str = NODE_STATE) -> dict[str, Any]:
    """The node's production configuration (as ``firmware_configs/*-node.example.yaml``)."""
    settings: dict[str, Any] = {
        "node": {"id": req.node, "commune": "", "zones": list(req.zones), "kind": req.kind},
        "broker": {"host": ends.broker_host, "port": ends.broker_port, "username": req.node,
                   "password_file": f"{etc}/mqtt-password", "tls": {"ca": f"{etc}/ca.crt"},
                   "keepalive_s": 30, "session_expiry_s": 604800},
        "security": {"hq_public_key": f"{etc}/hq_ed25519.pub"},
    }
    if req.kind in ("speaker", "mixed"):
        audio: dict[str, Any] = {"sink": "alsa", "alsa_device": "default", "volume": 100, "target_dbfs": -16,
                                 "chime_before": True, "chime_after": False, "hq_url": ends.hq_url}
        if ends.hq_https_by_ca:
            audio["hq_ca"] = f"{etc}/ca.crt"
        settings["audio"] = audio
        settings["tts"] = {"voice": "vi", "engines": ["gtts", "espeak"], "engine_options": {"gtts": {"timeout_s": 8}},
                           "cache_max_mb": 200}
        settings["amplifier"] = {"backend": "gpioset", "chip": "gpiochip0", "line": 17, "active_low": False,
                                 "warmup_s": 1.0, "hold_s": 3.0}
        settings["programme"] = {"windows": [], "timezone": "Asia/Ho_Chi_Minh"}
        settings["schedule"] = {"misfire_grace_s": 300, "lead_s": 3.0}
    else:
        settings["audio"] = {"sink": "null"}
    if req.kind in ("camera", "mixed"):
        settings["cameras"] = []
        settings["camera_report_interval_s"] = 60
    settings["state_dir"] = state_dir
    settings["health_interval_s"] = 60
    return settings


HEADER = """\
# LoaXa node {node} — made by HQ's provisioning ({kind}, zones: {zones}).
# Check on the node:  edge-agent check-config --config /etc/loaxa/node.yaml
# Wiring: amplifier.line is the BCM GPIO of the relay input; set amplifier.active_low: true for relay
# boards that switch on a LOW input.{cameras}
"""


def build_bundle(req: NodeRequest, commune: str, password: str, ends: Endpoints, *, ca_pem: bytes,
                 hq_public_pem: bytes) -> Bundle:
    settings = node_settings(req, ends)
    settings["node"]["commune"] = commune
    cameras = "\n# Cameras: add each one under cameras: (see docs/camera.md)." if req.kind != "speaker" else ""
    text = HEADER.format(node=req.node, kind=req.kind, zones=", ".join(req.zones) or "-", cameras=cameras)
    text += yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    ca = x509.load_pem_x509_certificate(ca_pem)
    return Bundle(node=req.node, files={"node.yaml": text.encode("utf-8"), "ca.crt": ca_pem,
                                        "hq_ed25519.pub": hq_public_pem, "mqtt-password": f"{password}\n".encode()},
                  ca_fingerprint=fingerprint(ca), hq_key_fingerprint=key_fingerprint(hq_public_pem))
