"""Simulated speaker nodes: the real edge agent, configured from the shipped example file.

Only the hardware edges are simulated (sound card → file or null sink, amplifier → simulated relay);
everything else is the agent a Raspberry Pi runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edge_agent.config import NodeConfig, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "firmware_configs" / "demo" / "speaker-node.yaml"


def simulated_node_settings(base_dir: Path, *, node_id: str, commune: str, zones: list[str], port: int,
                            hq_public_key: Path, sink: str = "file", **overrides: Any) -> dict[str, Any]:
    """The example file's settings for one simulated node, with per-node state and output directories.

    ``overrides`` use ``section__field`` keys (``amplifier__warmup_s=0.3``) or whole sections. Returned
    as plain data so it can also be written to a YAML file for an ``edge-agent run`` process.
    """
    if not EXAMPLE.exists():
        raise FileNotFoundError(f"{EXAMPLE} not found: run the simulators from a LoaXa source checkout")
    raw = yaml.safe_load(EXAMPLE.read_text("utf-8"))
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
