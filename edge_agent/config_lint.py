"""Warnings for a node config that is valid but not fit for a real Pi: demo settings left in place.

The demo and the simulators run the real agent with a file sink, a simulated relay and paths relative
to the config file; the same file copied to a Pi "works" — the loudspeaker stays silent, the relay
never closes, and state lands wherever the file sits (under /etc, read-only for the service). So
``check-config`` and ``doctor`` list what would be wrong on a pole. Pure: config and raw YAML in,
warnings out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from edge_agent.config import NodeConfig
from loaxa_common.cli_text import _

# raw YAML path → what it means, for every path-valued field a node config has
_PATH_FIELDS = (("state_dir",), ("security", "hq_public_key"), ("audio", "file_dir"), ("audio", "chime_file"),
                ("broker", "password_file"), ("broker", "tls", "ca"), ("broker", "tls", "cert"),
                ("broker", "tls", "key"), ("tts", "cache_dir"), ("amplifier", "log_file"),
                ("audio", "hq_ca"))


@dataclass(frozen=True)
class ConfigWarning:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _get(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = raw
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_warnings(cfg: NodeConfig, raw: dict[str, Any]) -> list[ConfigWarning]:
    """Settings that only make sense for the demo, the simulators or a test bench."""
    warnings: list[ConfigWarning] = []
    add = warnings.append
    speaks = cfg.node.kind in ("speaker", "mixed")
    if speaks and cfg.audio.sink == "file":
        add(ConfigWarning("audio.sink", _("'file' writes WAV files instead of playing: the loudspeaker stays "
                                          "silent; use 'alsa' on a node")))
    if speaks and cfg.audio.sink == "null":
        add(ConfigWarning("audio.sink", _("'null' discards all audio on a speaker node; use 'alsa'")))
    if speaks and cfg.amplifier.backend == "simulated":
        add(ConfigWarning("amplifier.backend", _("'simulated' never switches the real relay: the amplifier stays "
                                                 "off; use 'gpioset'")))
    for path in _PATH_FIELDS:
        value = _get(raw, path)
        if isinstance(value, str) and value and not value.startswith("/") and path != ("tts", "cache_dir"):
            add(ConfigWarning(".".join(path), _("relative path {value!r} resolves next to the config file (under "
                                                "/etc on a node, read-only for the service); give an absolute "
                                                "path such as /var/lib/loaxa/…").format(value=value)))
    b = cfg.broker
    if _loopback(b.host):
        add(ConfigWarning("broker.host", _("{host} is this machine: right only when HQ runs on this node")
                          .format(host=b.host)))
    elif b.tls is None:
        add(ConfigWarning("broker.tls", _("no TLS to {host}: the password and every command cross the network in "
                                          "clear; set broker.tls.ca and use port 8883").format(host=b.host)))
    if b.password:
        add(ConfigWarning("broker.password", _("password written in the config; put it in broker.password_file "
                                               "(0640, root:loaxa)")))
    if not b.username and not _loopback(b.host):
        add(ConfigWarning("broker.username", _("no broker login: the commune broker refuses anonymous nodes")))
    return warnings
