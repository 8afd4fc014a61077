"""Composition root of HQ: ``create_app()`` builds the aiohttp application; ``run_server()`` serves it.

Lifecycle through ``cleanup_ctx`` (start in order, stop in reverse): database (migrated) → broker
(embedded Mosquitto when none is configured) → MQTT link + orchestrator (inbound worker, sweeper).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from hq_server import sse
from hq_server.broker import broker_dir, credential_store, hq_login
from hq_server.broker_zones import membership_hooks
from hq_server.config import HqConfig, broker_tls_files, https_context, tls_listener
from hq_server.embedded_broker import EmbeddedBroker
from hq_server.inputs import MAX_JSON_BYTES
from hq_server.ports import http_port_problem, port_problem_message
from hq_server.routes import (
    audio,
    auth,
    bulletins,
    calendar,
    detections,
    enrol,
    fleet,
    fleet_live,
    hq_settings,
    live,
    live_view,
    meta,
    police_live,
    records,
    settings,
    snapshots,
    speech,
    zones,
)
from hq_server.services.alerts import Alerter
from hq_server.services.audio import AudioStore, build_speech
from hq_server.services.bulletins import BulletinService
from hq_server.services.coordination import client_id, coordinator_for
from hq_server.services.detections import DetectionService
from hq_server.services.health_history import HealthHistory
from hq_server.services.login_limiter import LoginLimiter
from hq_server.services.metrics import Metrics
from hq_server.services.node_problems import NodeProblemAlerts
from hq_server.services.node_settings import NodeSettings
from hq_server.services.orchestrator import Orchestrator, OrchestratorSettings
from hq_server.services.snapshots import SnapshotStore, on_snapshot_ack
from hq_server.services.users import UserError, create_user, user_count
from hq_server.services.zone_membership import ZoneMembership
from hq_server.signer import CommandSigner
from hq_server.storage.db import Database
from hq_server.ui.setup import setup_ui
from hq_server.web import (
    AUDIO,
    BROKER_TLS_PORT,
    BULLETINS,
    CONFIG,
    DB,
    DETECTION_PICTURES,
    LIMITER,
    MEMBERSHIP,
    METRICS,
    ORCH,
    SETTINGS,
    SNAPSHOTS,
    add_routes,
    audit_middleware,
    auth_middleware,
    error_middleware,
    input_middleware,
)
from loaxa_common.config import ConfigError
from loaxa_common.process import stop_on_signals
from loaxa_common.sd_notify import Notifier
from loaxa_contract import signing
from loaxa_link.mosquitto import BrokerError, Mosquitto
from loaxa_link.mqtt import LinkConfig

logger = logging.getLogger(__name__)

BROKER_PORT = web.AppKey("broker_port", int)
EMBEDDED_BROKER = web.AppKey("embedded_broker", EmbeddedBroker)
ROUTE_MODULES = (auth, bulletins, audio, fleet, zones, settings, snapshots, detections, records, meta, speech, live,
                 calendar, fleet_live, live_view, enrol, police_live, hq_settings)


async def _database(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    db = await Database(cfg.database_url).open()
    app[DB] = db
    a = cfg.auth  # counters in the database: HQ processes sharing it share the limit
    app[LIMITER] = LoginLimiter(db.sessions, a.login_max_failures, a.login_max_failures_per_address, a.login_window_s)
    await _bootstrap_admin(cfg, db)
    yield
    await db.close()


async def _bootstrap_admin(cfg: HqConfig, db: Database) -> None:
    name = cfg.auth.bootstrap_admin
    if not name:
        return
    async with db.sessions() as s:
        if await user_count(s):
            return
        password = os.environ.get(cfg.auth.bootstrap_password_env)
        if not password:
            logger.error("auth.bootstrap_admin set but $%s is empty; no admin created", cfg.auth.bootstrap_password_env)
            return
        try:
            await create_user(s, name, password, "admin", actor="bootstrap")
            logger.info("created the first admin %r from the configuration", name)
        except UserError as err:
            logger.error("bootstrap admin not created: %s", err)


async def _broker(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    if cfg.broker is not None:
        app[BROKER_PORT] = cfg.broker.port
        yield
        return
    broker = Mosquitto(broker_dir(cfg), credential_store(cfg), port=cfg.embedded_broker.port, tls=tls_listener(cfg))
    embedded = EmbeddedBroker(broker, cfg.data_dir / "hq.lock")
    await asyncio.to_thread(embedded.start)  # one HQ per data dir; a dead HQ's orphan broker is stopped first
    app[EMBEDDED_BROKER] = embedded
    app[BROKER_PORT] = broker.port
    app[BROKER_TLS_PORT] = broker.tls.port if broker.tls else 0
    logger.info("embedded Mosquitto on 127.0.0.1:%s (password file and ACL from %s)", broker.port,
                broker.credentials.root)
    supervisor = asyncio.get_running_loop().create_task(embedded.supervise(), name="hq:broker-supervisor")
    yield
    supervisor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await supervisor
    await asyncio.to_thread(embedded.stop)


def _signer(cfg: HqConfig) -> CommandSigner:
    if not cfg.key_path.exists():
        priv, pub = signing.generate_keypair(cfg.key_path.parent)
        logger.warning("generated HQ signing key %s; copy %s to every node", priv, pub)
    signer = CommandSigner(cfg.key_path, cfg.data_dir / "seq")
    logger.info("HQ key fingerprint %s (a node's check-config must print the same)", signing.fingerprint(signer.key))
    return signer


async def _orchestrator(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    host = cfg.broker.host if cfg.broker else "127.0.0.1"
    username, password = hq_login(cfg)
    shared = app[DB].engine.dialect.name == "postgresql"  # several HQ processes may share it
    link_cfg = LinkConfig(host=host, port=app[BROKER_PORT], client_id=client_id(cfg.commune, cfg.instance_name, shared),
                          username=username, password=password, **broker_tls_files(cfg),
                          subscriptions=Orchestrator.subscriptions(cfg.commune))
    a = cfg.alerts
    alerter = Alerter(app[DB].sessions, a.webhook_url, a.webhook_timeout_s, cfg.commune, a.webhook_attempts,
                      a.webhook_backoff_s, a.webhook_backoff_max_s, a.webhook_sweep_s)
    base = cfg.http.public_url or f"{cfg.http.scheme}://{cfg.http.host}:{cfg.http.port}"
    settings = OrchestratorSettings(commune=cfg.commune, lead_time_s=cfg.bulletins.lead_time_s,
                                    sweep_interval_s=cfg.bulletins.sweep_interval_s,
                                    node_offline_after_s=cfg.alerts.node_offline_after_s,
                                    audio_base_url=base.rstrip("/"),
                                    recurrence_horizon=timedelta(days=cfg.bulletins.recurrence_horizon_days),
                                    recurrence_renew_before=timedelta(days=cfg.bulletins.recurrence_renew_before_days),
                                    lead_per_1000_nodes_s=cfg.bulletins.lead_per_1000_nodes_s)
    orch = Orchestrator(settings, app[DB].sessions, link_cfg, _signer(cfg), alerter, app[METRICS])
    orch.ack_handlers["snapshot"] = on_snapshot_ack
    orch.health_writers.append(HealthHistory().add)
    orch.health_hooks.append(NodeProblemAlerts(app[DB].sessions, alerter).on_health)
    DetectionService(orch, app[DB].sessions, alerter, cfg.detections, base, app[DETECTION_PICTURES]).register()
    app[ORCH] = orch
    app[BULLETINS] = BulletinService(app[DB].sessions, app[AUDIO], cfg, orch.kick, orch.cancel)
    app[SETTINGS] = NodeSettings(orch, app[DB].sessions, cfg.command_ttl_s)
    app[MEMBERSHIP] = ZoneMembership(orch, app[DB].sessions, cfg.command_ttl_s)
    app[MEMBERSHIP].hooks.extend(membership_hooks(cfg))  # the broker's ACL follows first
    coordinator = coordinator_for(app[DB].engine, app[DB].sessions, cfg.commune, cfg.instance_name, orch)
    await coordinator.start()  # this instance's name (and MQTT session) is ours before the link connects
    await orch.start()
    coordinator.watch()
    alerter.start()
    yield
    await orch.stop()
    await coordinator.stop()
    await alerter.close()


def create_app(cfg: HqConfig) -> web.Application:
    # uploads stream through request.content under their own caps; anything read whole stays small
    app = web.Application(middlewares=[error_middleware, audit_middleware, auth_middleware, input_middleware],
                          client_max_size=MAX_JSON_BYTES)
    app[CONFIG] = cfg
    app[METRICS] = Metrics()
    b = cfg.bulletins
    app[AUDIO] = AudioStore(cfg.data_dir / "audio",
                            build_speech(b.tts_engines, b.tts_engine_options, cache_dir=cfg.data_dir / "tts-cache",
                                         cooldown_s=b.tts_cooldown_s),
                            b.tts_voice, b.tts_rate_wpm)
    app[SNAPSHOTS] = SnapshotStore(cfg.data_dir / "snapshots")
    app[DETECTION_PICTURES] = SnapshotStore(cfg.data_dir / "detections")
    app.cleanup_ctx.extend([_database, _broker, _orchestrator])
    for module in ROUTE_MODULES:
        add_routes(app, module.routes)
        meta.OPENAPI_SPECS.extend(s for s in module.routes.specs if s not in meta.OPENAPI_SPECS)
    live.install(app)
    sse.install(app)
    live_view.install(app)
    hq_settings.install(app)
    setup_ui(app)
    return app


async def serve(cfg: HqConfig, stop: asyncio.Event) -> None:
    notifier = Notifier.from_env()  # systemd Type=notify + WatchdogSec; inert outside systemd
    app = create_app(cfg)
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
    except BaseException:  # a later part failed: stop what already started (the broker), leave no orphan
        await runner.cleanup()
        raise
    watchdog = None
    try:
        site = web.TCPSite(runner, cfg.http.host, cfg.http.port, ssl_context=https_context(cfg))
        await site.start()
        logger.info("LoaXa HQ for commune %s on %s://%s:%s", cfg.commune, cfg.http.scheme, cfg.http.host,
                    cfg.http.port)
        notifier.ready(f"commune {cfg.commune}")
        watchdog = notifier.start_watchdog()
        await stop.wait()
        notifier.stopping()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await runner.cleanup()


def run_server(cfg: HqConfig) -> int:
    """Serve until SIGTERM/SIGINT; 2 with one line on stderr if HQ cannot start (e.g. its HTTP port is taken)."""
    problem = http_port_problem(cfg.http.host, cfg.http.port)
    if problem:  # before the database, the broker and the link start: nothing to undo, nothing left running
        print(f"lỗi (error): {problem}", file=sys.stderr)
        return 2

    async def main() -> None:
        await serve(cfg, stop_on_signals())

    try:
        asyncio.run(main())
    except OSError as err:
        bind = err.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)  # taken since the check
        message = port_problem_message(cfg.http.host, cfg.http.port, err) if bind else str(err)
        print(f"lỗi (error): HQ không khởi động được (could not start): {message}", file=sys.stderr)
        return 2
    except (BrokerError, ConfigError) as err:
        logger.error("HQ could not start: %s", err)
        return 2
    return 0
