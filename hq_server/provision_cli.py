"""``hq-server provision-node`` and ``revoke-node``: a node's login, bundle and enrolment code from the shell.

The bundle directory (``--out``) is what ``scripts/install-node.sh --bundle DIR`` installs; the code
(``--code``) is what ``edge-agent enroll https://hq… CODE`` redeems — one login either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from hq_server import node_provisioning as prov
from hq_server.config import HqConfig
from hq_server.errors import ApiError
from hq_server.provisioning import NodeRequest, write_bundle
from loaxa_common.cli_text import _
from loaxa_contract.topics import check_id
from loaxa_link.credentials import CredentialError


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("provision-node", help="issue a node's broker login and its bundle and/or enrolment code")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--id", required=True, help="node id (its broker user name)")
    p.add_argument("--zone", action="append", default=[], help="a zone the node serves (repeatable)")
    p.add_argument("--kind", choices=["speaker", "camera", "mixed"], default="speaker")
    p.add_argument("--out", type=Path, help="write the bundle here (default ./bundle-ID unless --code only)")
    p.add_argument("--code", action="store_true", help="also show a one-time enrolment code")
    p.add_argument("--replace", action="store_true", help="new login for a node that has one (replaced hardware)")
    r = sub.add_parser("revoke-node", help="remove a node's broker login (disconnected at once) and pending codes")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--id", required=True)


def run(args: argparse.Namespace, cfg: HqConfig) -> int:
    try:
        node = check_id(args.id, "node")
        if args.cmd == "revoke-node":
            return _revoke(cfg, node)
        zones = tuple(asyncio.run(_resolve_zones(cfg, args.zone)))
        done = prov.provision(cfg, NodeRequest(node, zones, args.kind), replace=args.replace, code=args.code)
    except (CredentialError, prov.ProvisioningError) as err:
        print(_("error: {error}").format(error=err), file=sys.stderr)
        return 1
    except ApiError as err:  # an unknown zone, with the closest known ones
        print(_("error: {error}").format(error="; ".join((err.fields or {}).values()) or err.message),
              file=sys.stderr)
        return 1
    print(_("Broker login issued for node {node} ({state}).").format(
        node=node, state=_("applied to the running broker") if done.broker_applied
        else _("the broker is not running; it reads it when it starts")))
    out = args.out or (None if args.code else Path(f"bundle-{node}"))
    if out is not None:
        write_bundle(done.bundle, out)
        print(_("Bundle written to {dir}: on the node, scripts/install-node.sh --bundle DIR").format(dir=out))
    if done.code:
        print(_("Enrolment code (one use, until {end}): {code}").format(
            code=done.code, end=done.expires_at.astimezone().strftime("%Y-%m-%d %H:%M") if done.expires_at else "?"))
        print(_("On the node: edge-agent enroll {url} {code}").format(url=prov.endpoints(cfg).hq_url, code=done.code))
    print(_("Fingerprints: HQ key {key}, CA {ca}").format(key=done.bundle.hq_key_fingerprint,
                                                         ca=done.bundle.ca_fingerprint[:16]))
    return 0


def _revoke(cfg: HqConfig, node: str) -> int:
    revoked, applied = prov.revoke(cfg, node)
    if not revoked:
        print(_("error: node {node} has no active login").format(node=node), file=sys.stderr)
        return 1
    asyncio.run(_forget(cfg, node))
    print(_("Login of node {node} revoked ({state}).").format(
        node=node, state=_("the broker disconnected it") if applied else _("the broker is not running")))
    return 0


async def _forget(cfg: HqConfig, node: str) -> None:
    from hq_server.cli import link_config_for
    from hq_server.storage.db import Database
    from loaxa_link.mqtt import MqttLink

    link = MqttLink(link_config_for(cfg, f"loaxa-hq-revoke-{node}", []))
    link.config.session_expiry_s = 0
    db = await Database(cfg.database_url).open()
    await link.start()
    try:
        with contextlib.suppress(TimeoutError):
            await link.wait_ready(10)
        await prov.forget_revoked(link, db.sessions, cfg.commune, node)
    finally:
        await link.stop()
        await db.close()


async def _resolve_zones(cfg: HqConfig, refs: list[str]) -> list[str]:
    """Zones by slug or name through HQ's zone registry, as the API does (unknown → the closest ones)."""
    from hq_server.services import zones as zone_registry
    from hq_server.storage.db import Database

    if not refs:
        return []
    db = await Database(cfg.database_url).open()
    try:
        async with db.sessions() as session:
            return (await zone_registry.load(session)).resolve(refs, "zone")
    finally:
        await db.close()
