"""Simulated speaker nodes: the real edge agent, configured from the shipped example file.

Only the hardware edges are simulated (sound card → file or null sink, amplifier → simulated relay);
everything else is the agent a Raspberry Pi runs, including its broker login: each simulated node gets
its own credential from the commune's :class:`~loaxa_link.credentials.CredentialStore`, exactly as a
technician issues one (:class:`SimulatedLogins`).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge_agent.config import NodeConfig, parse_config
from loaxa_link.credentials import CredentialStore, write_private
from loaxa_link.mosquitto import reload_running

EXAMPLE = Path(__file__).resolve().parent.parent / "firmware_configs" / "demo" / "speaker-node.yaml"


@functools.cache
def _example() -> dict[str, Any]:
    """The example file, parsed once per process: pure-Python YAML parsing was half of a simulated
    agent's start-up (0.15 s each on a loaded machine), and a fleet starts a thousand per process."""
    if not EXAMPLE.exists():
        raise FileNotFoundError(f"{EXAMPLE} not found: run the simulators from a LoaXa source checkout")
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    return raw


def simulated_node_settings(base_dir: Path, *, node_id: str, commune: str, zones: list[str], port: int,
                            hq_public_key: Path, sink: str = "file", **overrides: Any) -> dict[str, Any]:
    """The example file's settings for one simulated node, with per-node state and output directories.

    ``overrides`` use ``section__field`` keys (``amplifier__warmup_s=0.3``) or whole sections. Returned
    as plain data so it can also be written to a YAML file for an ``edge-agent run`` process.
    """
    raw = copy.deepcopy(_example())
    node_dir = base_dir / node_id
    raw["node"].update(id=node_id, commune=commune, zones=zones)
    raw["broker"]["port"] = port
    raw["security"]["hq_public_key"] = str(hq_public_key)
    raw["audio"].update(sink=sink, file_dir=str(node_dir / "played"))
    raw["state_dir"] = str(node_dir / "state")
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            raw.setdefault(section, {})[field] = value
        else:
            raw[key] = value
    return raw


def simulated_node_config(base_dir: Path, **settings: Any) -> NodeConfig:
    """A validated node config for an in-process simulated node (see :func:`simulated_node_settings`)."""
    raw = simulated_node_settings(base_dir, **settings)
    return parse_config(raw, source=f"simulated:{raw['node']['id']}", base=base_dir)


def write_node_yaml(path: Path, settings: dict[str, Any]) -> Path:
    """Write node settings as the YAML file an ``edge-agent run --config`` process reads."""
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    return path


@dataclass
class SimulatedLogins:
    """Broker logins of simulated nodes: one credential per node in ``store``, the password in a 0600 file.

    ``broker_dir`` is the data directory of the broker to reload after a change (found by its pid file;
    nothing to reload if it is not running yet: it reads the store when it starts).
    """

    store: CredentialStore
    secrets_dir: Path
    broker_dir: Path | None = None

    def password_file(self, node_id: str) -> Path:
        return self.secrets_dir / f"{node_id}.password"

    def ensure(self, nodes: dict[str, list[str] | None]) -> dict[str, dict[str, Any]]:
        """Issue (or keep) a credential for each node with its zones, reload the broker once.

        Zones ``None`` keep those of an existing credential. Returns each node's config overrides
        (``broker__username``, ``broker__password_file``). The store is read once and written at most
        twice whatever the number of nodes (a 10 000-node fleet is provisioned in seconds).
        """
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        held = {c.node: c for c in self.store.nodes()}
        new = {n: zones or [] for n, zones in nodes.items() if n not in held or not self.password_file(n).exists()}
        moved = {n: zones for n, zones in nodes.items()
                 if n not in new and zones is not None and tuple(zones) != held[n].zones}
        for node_id, password in (self.store.add_nodes(new) if new else {}).items():
            write_private(self.password_file(node_id), password + "\n")
        changed = bool(new) | (self.store.set_zones_many(moved) if moved else False)
        if changed and self.broker_dir is not None:
            reload_running(self.broker_dir, self.store)
        return {n: {"broker__username": n, "broker__password_file": str(self.password_file(n))} for n in nodes}

    def login(self, node_id: str, zones: list[str] | None = None) -> tuple[str, str]:
        """(user, password) of ``node_id``, issuing its credential if needed (for hand-made node clients)."""
        self.ensure({node_id: zones})
        return node_id, self.password_file(node_id).read_text("utf-8").strip()
