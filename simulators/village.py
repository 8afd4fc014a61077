"""A simulated village (or commune): many real edge agents sharing one asyncio event loop.

Each agent has its own MQTT session, state directory and output; they share the loop, which is
what lets one CI machine stand in for a commune's hundreds of loudspeaker clusters.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.app import EdgeAgent
from simulators.nodes import SimulatedLogins, simulated_node_config

logger = logging.getLogger(__name__)


@dataclass
class Village:
    base_dir: Path
    commune: str
    port: int
    hq_public_key: Path
    sink: str = "file"
    overrides: dict[str, object] = field(default_factory=dict)
    """Config overrides for every node, ``section__field`` keys (e.g. ``audio__hq_url``)."""
    agents: list[EdgeAgent] = field(default_factory=list)
    logins: SimulatedLogins | None = None
    """Issues each node its broker credential (the broker accepts no anonymous client)."""

    def node_ids(self, zones: int, per_zone: int) -> list[tuple[str, str]]:
        return [(f"thon-{z}-loa-{n}", f"thon-{z}") for z in range(1, zones + 1) for n in range(1, per_zone + 1)]

    async def start(self, zones: int = 1, per_zone: int = 1, ready_timeout: float = 60.0,
                    batch: int = 50) -> None:
        """Start ``zones × per_zone`` agents, in batches so a big fleet doesn't stampede the broker."""
        if self.logins is None:
            raise ValueError("Village needs logins: the broker accepts only provisioned nodes")
        specs = self.node_ids(zones, per_zone)
        logins = await asyncio.to_thread(self.logins.ensure, {node_id: [zone] for node_id, zone in specs})
        for i in range(0, len(specs), batch):
            started = []
            for node_id, zone in specs[i : i + batch]:
                cfg = simulated_node_config(self.base_dir, node_id=node_id, commune=self.commune, zones=[zone],
                                            port=self.port, hq_public_key=self.hq_public_key, sink=self.sink,
                                            **{**logins[node_id], **self.overrides})
                agent = EdgeAgent(cfg)
                await agent.start()
                started.append(agent)
            self.agents.extend(started)
            await asyncio.gather(*(a.link.wait_ready(ready_timeout) for a in started))
        logger.info("village of %d simulated nodes is online", len(self.agents))

    async def stop(self) -> None:
        await asyncio.gather(*(a.stop() for a in self.agents), return_exceptions=True)
        self.agents.clear()
