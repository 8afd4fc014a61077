"""The broker's ACL follows HQ's zone membership.

A node may read only its own zones' command topics (the ACL generated from the credential store), so
when HQ moves a node to other zones the store and the running broker must change *before* the node is
told to subscribe: Mosquitto grants a denied SUBSCRIBE and then delivers nothing. This is the membership
hook (:attr:`hq_server.services.zone_membership.ZoneMembership.hooks`) doing that; with an external broker
HQ cannot change the ACL and says so in its log.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hq_server.broker import broker_dir, credential_store
from hq_server.config import HqConfig
from hq_server.services.zone_membership import MembershipHook
from loaxa_link.credentials import CredentialError, CredentialStore
from loaxa_link.mosquitto import BrokerError, reload_running

logger = logging.getLogger(__name__)


def zone_acl_hook(store: CredentialStore, data_dir: Path) -> MembershipHook:
    """Hook that writes a node's zones into ``store`` and reloads the broker running on ``data_dir``."""

    def apply(node_id: str, zones: list[str]) -> None:
        try:
            if not store.set_zones(node_id, zones):
                return
        except CredentialError as err:  # no broker login yet: issued later with these zones in mind
            logger.warning("zones of %s not written to the broker ACL: %s", node_id, err)
            return
        try:
            reload_running(data_dir, store)
        except BrokerError as err:  # the node is told anyway; the next reload applies the ACL
            logger.error("broker ACL for %s's zones %s written but not reloaded: %s", node_id, zones, err)
            return
        logger.info("broker ACL: node %s may read the commands of zones %s", node_id, ",".join(zones) or "-")

    async def hook(node_id: str, zones: list[str]) -> None:
        await asyncio.to_thread(apply, node_id, zones)

    return hook


def membership_hooks(cfg: HqConfig) -> list[MembershipHook]:
    """The hooks HQ's configuration calls for: the embedded broker's ACL, or a warning for an external one."""
    if cfg.broker is None:
        return [zone_acl_hook(credential_store(cfg), broker_dir(cfg))]

    async def external(node_id: str, zones: list[str]) -> None:
        logger.warning("external broker: its ACL must let node %s read the command topics of zones %s", node_id,
                       ",".join(zones) or "-")

    return [external]
