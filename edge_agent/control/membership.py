"""Zone membership assigned by HQ, kept on disk so it survives a restart.

Why? HQ is the authority for which zones (villages) a node belongs to: a technician moves a loudspeaker
to another village at HQ, not on the pole. The ``node.zones`` of the node's configuration is only its
first claim; once HQ has sent ``set_zones`` the node stores the list here (``state_dir/zones.json``) and
uses it from then on — for the zone command topics it subscribes to, the gate's target check and the
zones it reports in its state — also after a restart. A state directory that is wiped (new SD card)
falls back to the configuration, and HQ, seeing the node report other zones, sends its assignment again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from loaxa_common.files import atomic_write_json, read_json
from loaxa_contract.models import utcnow
from loaxa_contract.topics import valid_id

logger = logging.getLogger(__name__)


class ZoneMembership:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "zones.json"

    def load(self) -> list[str] | None:
        """HQ's last assignment, or None when HQ never sent one (or the file is unusable)."""
        data = read_json(self.path, None)
        zones = data.get("zones") if isinstance(data, dict) else None
        if not isinstance(zones, list) or not all(isinstance(z, str) and valid_id(z) for z in zones):
            if data is not None:
                logger.error("%s is not a zone list; using the configured zones until HQ sends them again", self.path)
            return None
        return list(zones)

    def save(self, zones: list[str], command_id: str) -> None:
        atomic_write_json(self.path, {"zones": zones, "command_id": command_id, "set_at": utcnow().isoformat()})

    def effective(self, configured: list[str]) -> list[str]:
        """The zones to use at start: HQ's assignment if there is one, else the configuration's claim."""
        assigned = self.load()
        if assigned is None:
            return list(configured)
        if assigned != list(configured):
            logger.info("zones %s assigned by HQ replace the configured %s", ",".join(assigned) or "-",
                        ",".join(configured) or "-")
        return assigned
