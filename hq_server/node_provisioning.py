"""Provision and revoke nodes: broker login (applied to the running broker), bundle, enrolment code.

One path for ``hq-server provision-node`` and the technicians' API route, so both give the same
result: the credential store issues the node's login and the broker reloads it at once (no restart);
the bundle is built from HQ's own configuration (broker name and port, CA, HQ's public key and URL);
with ``code=True`` the bundle also waits, encrypted, behind a one-time enrolment code. Revoking
removes the login (the broker disconnects the node at once) and deletes its pending codes.
Blocking (scrypt, file writes, the broker's reload confirmation): async callers use ``to_thread``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hq_server.broker import credential_store, sync_broker
from hq_server.config import HqConfig
from hq_server.enrolment import EnrolmentStore
from hq_server.provisioning import Endpoints, NodeRequest, build_bundle
from hq_server.storage.tables import Node, NodeEvent, now
from loaxa_common.certs import CA_CERT, CertError, describe
from loaxa_contract import signing, topics
from loaxa_contract.enrolment import Bundle, format_code, pin_of
from loaxa_link.mosquitto import BrokerError
from loaxa_link.mqtt import LinkError, MqttLink

logger = logging.getLogger(__name__)
SessionFactory = Callable[[], Any]


class ProvisioningError(ValueError):
    """HQ cannot provision yet (no CA, no broker name) or the request is refused; the message says why."""


@dataclass
class Provisioned:
    bundle: Bundle
    code: str | None
    expires_at: dt.datetime | None
    broker_applied: bool
    """The running broker reloaded the new login (False: not running; it reads it when it starts)."""


def ca_file(cfg: HqConfig) -> Path:
    return cfg.provisioning.ca_file or cfg.data_dir / "tls" / CA_CERT


def enrolments(cfg: HqConfig) -> EnrolmentStore:
    return EnrolmentStore(cfg.data_dir / "enrolments")


def endpoints(cfg: HqConfig, running_tls_port: int | None = None) -> Endpoints:
    """Where provisioned nodes connect: explicit ``provisioning`` settings, else the embedded TLS listener
    (``running_tls_port``: the port it actually listens on, when the config says 0)."""
    p, tls = cfg.provisioning, cfg.embedded_broker.tls
    host = p.broker_host
    if host is None and tls is not None:
        try:
            info = describe(tls.cert)
        except CertError as err:
            raise ProvisioningError(str(err)) from err
        names = [*info.dns_names, *info.ip_addresses]
        host = names[0] if names else None
    if host is None:
        raise ProvisioningError("set provisioning.broker_host (the name nodes use to reach the broker)")
    port = p.broker_port or (tls.port if tls is not None and tls.port else None) or running_tls_port or None
    if port is None:
        raise ProvisioningError("set provisioning.broker_port (the broker's TLS port for nodes)")
    hq_url = (cfg.http.public_url or f"{cfg.http.scheme}://{cfg.http.host}:{cfg.http.port}").rstrip("/")
    by_ca = False
    if cfg.http.tls_cert is not None and ca_file(cfg).exists():
        with_ca = describe(ca_file(cfg))
        by_ca = describe(cfg.http.tls_cert).issuer == with_ca.subject
    return Endpoints(broker_host=host, broker_port=port, hq_url=hq_url, hq_https_by_ca=by_ca)


def hq_public_pem(cfg: HqConfig) -> bytes:
    """HQ's public signing key, generating the key pair on first use (as ``hq-server run`` does)."""
    pub = cfg.key_path.with_suffix(".pub")
    if not cfg.key_path.exists():
        signing.generate_keypair(cfg.key_path.parent, cfg.key_path.stem)
    if not pub.exists():
        pub.write_bytes(signing.public_pem(signing.load_private_key(cfg.key_path).public_key()))
    return pub.read_bytes()


def _apply(cfg: HqConfig) -> bool:
    try:
        return sync_broker(cfg)
    except (BrokerError, ValueError) as err:
        raise ProvisioningError(f"the broker did not take the change: {err}") from err


def provision(cfg: HqConfig, req: NodeRequest, *, replace: bool = False, code: bool = False,
              running_tls_port: int | None = None) -> Provisioned:
    ca = ca_file(cfg)
    if not ca.exists():
        raise ProvisioningError(f"no CA certificate at {ca}: run hq-server make-ca (or set provisioning.ca_file)")
    ends = endpoints(cfg, running_tls_port)  # refuse before issuing anything
    store = credential_store(cfg)
    password = store.add_node(req.node, req.zones, replace_existing=replace)
    bundle = build_bundle(req, cfg.commune, password, ends, ca_pem=ca.read_bytes(), hq_public_pem=hq_public_pem(cfg))
    applied = _apply(cfg)
    logger.info("provisioned node %s (%s, zones %s); broker %s", req.node, req.kind, ",".join(req.zones) or "-",
                "reloaded" if applied else "not running")
    shown, expires = None, None
    if code:
        codes = enrolments(cfg)
        codes.cancel(req.node)  # one live code per node
        now = dt.datetime.now(dt.UTC)
        secret = codes.create(req.node, bundle.to_json(), cfg.provisioning.code_ttl_s, now)
        pin = pin_of(bundle.ca_fingerprint) if cfg.provisioning.code_pins_ca else None
        shown, expires = format_code(secret, pin), now + dt.timedelta(seconds=cfg.provisioning.code_ttl_s)
    return Provisioned(bundle, shown, expires, applied)


def revoke(cfg: HqConfig, node: str) -> tuple[bool, bool]:
    """(was active, broker applied): the node's login goes and its pending codes with it."""
    cancelled = enrolments(cfg).cancel(node)
    revoked = credential_store(cfg).revoke_node(node)
    applied = _apply(cfg) if revoked else False
    logger.info("revoked node %s (login %s, %d pending code(s) deleted)", node, "removed" if revoked else "absent",
                cancelled)
    return revoked, applied


async def forget_revoked(link: MqttLink, sessions: SessionFactory, commune: str, node: str) -> None:
    """After a revocation: clear the node's retained ``online`` state and record it offline at HQ.

    Mosquitto 2.0 does not publish the last will of a client it drops because its login was removed
    (measured), so without this HQ would show the revoked node online — and, after a restart, read
    the retained ``online`` again.
    """
    try:
        await link.publish(topics.node_state(commune, node), b"", retain=True)
    except LinkError as err:
        logger.warning("could not clear the retained state of revoked node %s: %s", node, err)
    async with sessions() as session:
        row = await session.get(Node, node)
        if row is not None and row.state != "offline":
            row.state, row.state_since = "offline", now()
            session.add(NodeEvent(node_id=node, at=row.state_since, event="offline", detail="broker login revoked"))
        await session.commit()
