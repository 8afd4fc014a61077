"""HQ's broker: where its credentials live, how HQ logs in, and applying credential changes live.

With no ``broker:`` section HQ embeds Mosquitto (``data_dir/broker``), authenticated by the credential
store in ``data_dir/credentials`` (HQ's own password and one per node, see
:mod:`loaxa_link.credentials`). Nothing connects anonymously: HQ's own clients (the orchestrator,
``hq-server send``) use HQ's credential from the store; nodes use the one issued to them with
``hq-server node-credential add``.

:func:`sync_broker` is the one way to make the running broker follow the store (rewrite its password
file and ACL, SIGHUP, wait for the reload): the CLI calls it after adding or revoking a node, and HQ's
zone registry calls it after moving a node to another zone (the ACL lists the zone topics each node may
read).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hq_server.config import HqConfig
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import reload_running
from loaxa_link.system_broker import render_shared, signal_reload

logger = logging.getLogger(__name__)


def broker_dir(cfg: HqConfig) -> Path:
    """Data directory of the embedded Mosquitto (config, password file, ACL, persistence, log, pid)."""
    return cfg.data_dir / "broker"


def credential_store(cfg: HqConfig) -> CredentialStore:
    return CredentialStore(cfg.data_dir / "credentials", cfg.commune)


def hq_login(cfg: HqConfig) -> tuple[str | None, str | None]:
    """HQ's (user, password): from the ``broker:`` section for an external broker it does not manage,
    else (embedded, or ``broker.managed``) HQ's own credential from the store."""
    if cfg.broker is not None and cfg.broker.managed is None:
        return cfg.broker.username, cfg.broker_password()
    return credential_store(cfg).hq_login()


def sync_broker(cfg: HqConfig, timeout: float = 10.0) -> bool:
    """Apply the credential store to the embedded broker; True if a running broker reloaded.

    Blocking (file writes, a short wait for the broker's confirmation): from async code use
    :func:`sync_broker_async`. With an external broker there is nothing HQ can reload: raises
    ``ValueError`` with what to do instead.
    """
    if cfg.broker is not None and cfg.broker.managed is not None:
        return _sync_managed(cfg, timeout)
    if cfg.broker is not None:
        raise ValueError("HQ dùng broker ngoài (broker: trong cấu hình): quản lý tài khoản MQTT trên broker đó "
                         "(HQ uses an external broker: manage its MQTT users there)")
    reloaded = reload_running(broker_dir(cfg), credential_store(cfg), timeout)
    logger.info("broker credentials %s", "reloaded by the running broker" if reloaded
                else "written; the broker is not running and reads them when it starts")
    return reloaded


def _sync_managed(cfg: HqConfig, timeout: float) -> bool:
    """A system Mosquitto set up by ``hq-server broker-config``: shared files, then SIGHUP when HQ may.

    False when the reload is left to the ``loaxa-broker-reload.path`` unit (HQ may not signal it).
    """
    assert cfg.broker is not None and cfg.broker.managed is not None
    m = cfg.broker.managed
    render_shared(m.dir, credential_store(cfg))
    reloaded = signal_reload(m.pid_file, m.log_file, timeout)
    logger.info("broker credentials written to %s; %s", m.dir, "the broker reloaded" if reloaded
                else "its reload is left to loaxa-broker-reload.path")
    return reloaded


async def sync_broker_async(cfg: HqConfig, timeout: float = 10.0) -> bool:
    return await asyncio.to_thread(sync_broker, cfg, timeout)
