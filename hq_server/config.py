"""HQ configuration (YAML), strict and described like the node config.

With no ``broker`` section HQ starts its own Mosquitto on loopback (the one-machine default).
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hq_server.services.detection_rules import AlertRule
from loaxa_common.config import ConfigError, read_yaml_mapping, validate_config
from loaxa_contract.topics import check_id
from loaxa_link.broker_conf import TlsListener


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientTlsSection(Section):
    ca: Path = Field(description="CA certificate that signed the broker's certificate (commune CA: ca.crt)")
    cert: Path | None = Field(default=None, description="Client certificate, if the broker asks for one")
    key: Path | None = Field(default=None, description="Private key of the client certificate")


class ManagedBrokerSection(Section):
    dir: Path = Field(description="HQ writes this broker's password file and ACL here, from its credential store "
                      "(hq-server broker-config points Mosquitto at them); readable by Mosquitto's group")
    pid_file: Path | None = Field(default=None, description="Mosquitto's pid file: HQ sends it SIGHUP after each "
                                  "change when allowed (else the loaxa-broker-reload.path unit reloads it)")
    log_file: Path | None = Field(default=None, description="Mosquitto's log, to confirm that a reload happened")


class BrokerSection(Section):
    host: str = Field(default="127.0.0.1", description="Broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 for TLS)")
    username: str | None = Field(default=None, description="HQ's MQTT user")
    password: str | None = Field(default=None, description="HQ's MQTT password; prefer password_file")
    password_file: Path | None = Field(default=None, description="File holding HQ's MQTT password")
    tls: ClientTlsSection | None = Field(default=None, description="TLS to the broker; omit on loopback")
    managed: ManagedBrokerSection | None = Field(default=None, description="HQ manages this broker's users "
                                                 "(Debian's Mosquitto set up by hq-server broker-config): HQ logs "
                                                 "in with its own credential and nodes are added/revoked live")

    @model_validator(mode="after")
    def _one_password(self) -> BrokerSection:
        if self.password and self.password_file:
            raise ValueError("give either password or password_file, not both")
        return self


class TlsListenerSection(Section):
    host: str = Field(default="0.0.0.0", description="Address nodes reach the broker on (LAN / 4G side); "
                      "0.0.0.0 = every interface")
    port: int = Field(default=8883, ge=0, le=65535, description="TLS port for nodes (0 = any, for tests)")
    cert: Path = Field(description="Server certificate whose names include how nodes reach HQ "
                       "(hq-server make-server-cert, or a real certificate with its chain)")
    key: Path = Field(description="Private key of the server certificate")
    client_ca: Path | None = Field(default=None, description="Also require a client certificate signed by "
                                   "this CA (optional, on top of the per-node password)")


class EmbeddedBrokerSection(Section):
    port: int = Field(default=1883, ge=0, le=65535, description="Loopback port of the embedded Mosquitto (0 = any)")
    tls: TlsListenerSection | None = Field(default=None, description="A TLS listener for the nodes on the "
                                           "network; without it the broker is reachable from this machine only")


class HttpSection(Section):
    host: str = Field(default="127.0.0.1", description="Listen address; loopback unless a reverse proxy fronts HQ")
    port: int = Field(default=8080, ge=0, le=65535, description="Listen port (0 = any free port, for tests)")
    public_url: str | None = Field(
        default=None, description="Base URL nodes use to fetch /audio/{sha256}; default http://host:port")
    secure_cookies: bool = Field(default=False, description="Mark session cookies Secure (set behind HTTPS)")
    session_ttl_s: int = Field(default=12 * 3600, ge=60, description="Browser session lifetime")
    tls_cert: Path | None = Field(default=None, description="Serve HTTPS with this certificate (e.g. from "
                                  "hq-server make-server-cert --stem https); omit behind a reverse proxy")
    tls_key: Path | None = Field(default=None, description="Private key of tls_cert")

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @model_validator(mode="after")
    def _cert_and_key(self) -> HttpSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        return self


class ProvisioningSection(Section):
    broker_host: str | None = Field(default=None, description="Broker name or address written into provisioned "
                                    "nodes' configs; default: the first name of the embedded broker's certificate")
    broker_port: int | None = Field(default=None, ge=1, le=65535, description="Broker TLS port for nodes; "
                                    "default: embedded_broker.tls.port")
    ca_file: Path | None = Field(default=None, description="CA certificate nodes trust for the broker (and HQ's "
                                 "HTTPS); default data_dir/tls/ca.crt (hq-server make-ca)")
    code_ttl_s: int = Field(default=3600, ge=60, le=7 * 86400, description="Lifetime of an enrolment code")
    code_pins_ca: bool = Field(default=True, description="Enrolment codes carry the CA fingerprint, so a node "
                               "can trust HQ's HTTPS without a public certificate")


class DatabaseSection(Section):
    url: str | None = Field(default=None, description="SQLAlchemy async URL; default sqlite+aiosqlite in data_dir")


class AuthSection(Section):
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per user name and window before 429")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins per client address and window before 429 (higher: a shared "
                                      "office is one address)")
    login_window_s: int = Field(default=300, ge=1, description="Window of the login rate limit")
    bootstrap_admin: str | None = Field(
        default=None, description="Create this admin at start-up if no user exists (password from env)")
    bootstrap_password_env: str = Field(default="LOAXA_ADMIN_PASSWORD", description="Env var of its password")


class BulletinSection(Section):
    lead_time_s: float = Field(default=5.0, ge=0, le=300,
                               description="Synchronised start: every loudspeaker gets at least this long between "
                                           "the last command published and play_at")
    lead_per_1000_nodes_s: float = Field(
        default=0.5, ge=0, le=60,
        description="Added to the lead per 1 000 loudspeakers a broadcast reaches: the broker's fan-out and the "
                    "nodes' checks take longer for a bigger broadcast (measured; see docs/PERFORMANCE.md)")
    emergency_two_person: bool = Field(default=False,
                                       description="An emergency bulletin needs a second person's approval")
    sweep_interval_s: float = Field(default=1.0, gt=0, le=60, description="Expiry / schedule sweeper period")
    recurrence_horizon_days: float = Field(
        default=30, gt=0, le=366,
        description="Lifetime of the signed command of a recurring series with no end_date; HQ renews it")
    recurrence_renew_before_days: float = Field(
        default=10, gt=0, description="Renew an open-ended series this long before its command expires "
                                      "(nodes offline at renewal get it when they reconnect)")
    tts_engines: list[str] = Field(
        default_factory=lambda: ["gtts", "espeak"], min_length=1,
        description="HQ rendering chain, best first: google, azure, fpt, viettel, zalo, gtts, piper, espeak "
                    "(espeak-ng last: robotic, flagged). Without Internet HQ falls back and records why")
    tts_engine_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Keyword options per engine, e.g. {azure: {region: southeastasia, api_key_file: "
                    "/etc/loaxa/azure.key}}; keys come from a file or an environment variable, never from here")
    tts_voice: str = Field(default="female-north",
                           description="Default voice: gender-accent (female-north, male-south…), or an engine's "
                                       "voice as engine:id (fpt:banmai)")
    tts_rate_wpm: int | None = Field(default=None, ge=80, le=300,
                                     description="Speaking rate; empty = each voice's natural pace (espeak-ng 140)")
    tts_cooldown_s: float = Field(default=60.0, ge=0, le=3600,
                                  description="Skip an unreachable voice service this long before trying again")

    @model_validator(mode="after")
    def _renewal_inside_horizon(self) -> BulletinSection:
        if self.recurrence_renew_before_days >= self.recurrence_horizon_days:
            raise ValueError("recurrence_renew_before_days must be less than recurrence_horizon_days")
        return self


class DetectionSection(Section):
    rules: list[AlertRule] = Field(
        default_factory=list, max_length=100,
        description="Police-alert rules for camera detection events (first match wins); no rule = events are "
                    "stored and listed, but no alert")
    picture_ttl_s: float = Field(default=300, ge=10, le=86_400,
                                 description="Lifetime of the one-time upload URL of an event's picture")
    alert_max_age_s: float = Field(default=900, ge=0, le=86_400,
                                   description="An event older than this when it reaches HQ (node was offline) "
                                               "is stored without an alert")
    keep_per_camera: int = Field(default=500, ge=1, le=100_000,
                                 description="Newest events (and pictures) kept per camera")


class AlertSection(Section):
    webhook_url: str | None = Field(default=None, description="POST every alert as JSON here (police post, chat)")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_attempts: int = Field(default=5, ge=1, le=20, description="Tries per alert (network/timeout/429/5xx)")
    webhook_backoff_s: float = Field(default=1.0, gt=0, le=60, description="Wait before the 2nd try; doubles")
    webhook_backoff_max_s: float = Field(default=60.0, gt=0, le=3600, description="Longest wait between tries")
    webhook_sweep_s: float = Field(default=5.0, gt=0, le=300,
                                   description="How often undelivered alerts are looked up in the database and "
                                               "retried when their backoff has passed (also after a restart)")
    node_offline_after_s: float = Field(default=300, ge=0, description="Alert when a node is offline this long")


class UiSection(Section):
    map_tile_url: str | None = Field(
        default=None, max_length=500, pattern=r"^https?://.*\{z\}.*\{x\}.*\{y\}",
        description="Map tiles under the nodes' positions, as a {z}/{x}/{y} URL template of a tile server you may "
                    "use (your own, or the province's); omit: positions on a plain background, no Internet needed")
    map_tile_attribution: str = Field(default="", max_length=200, description="Credit shown under tiled maps")


class LiveViewSection(Section):
    max_s: float = Field(default=180, ge=10, le=900, description="A live view ends by itself after this long")
    idle_s: float = Field(default=30, ge=5, le=300, description="...or this long after its last viewer left")
    width: int = Field(default=320, ge=160, le=1280, description="Frame width in pixels (height keeps the ratio)")
    fps: float = Field(default=2.0, gt=0, le=10, description="Frames per second the node sends")
    jpeg_quality: int = Field(default=60, ge=20, le=95, description="JPEG quality of each frame")


class HqConfig(Section):
    commune: str = Field(description="Commune id (slug), the topic root below loaxa/v1/")
    instance: str | None = Field(default=None, description="Name of this HQ process among those sharing one "
                                 "PostgreSQL database and broker (1-40 characters a-z, 0-9, '-'); its MQTT "
                                 "session is named after it. Default: derived from the host name (set it when two "
                                 "HQ processes run on one machine). Ignored with SQLite (one process)")
    data_dir: Path = Field(default=Path("var/hq"), description="Keys, database, rendered audio, broker data")
    broker: BrokerSection | None = Field(default=None, description="External broker; omit to embed Mosquitto")
    embedded_broker: EmbeddedBrokerSection = Field(default_factory=EmbeddedBrokerSection)
    private_key: Path | None = Field(default=None, description="HQ Ed25519 key; default data_dir/keys/hq_ed25519.key")
    command_ttl_s: int = Field(default=3600, ge=10, description="Default lifetime of a command before it expires")
    http: HttpSection = Field(default_factory=HttpSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    bulletins: BulletinSection = Field(default_factory=BulletinSection)
    alerts: AlertSection = Field(default_factory=AlertSection)
    detections: DetectionSection = Field(default_factory=DetectionSection)
    metrics_public: bool = Field(default=False, description="Serve /metrics without authentication")
    provisioning: ProvisioningSection = Field(default_factory=ProvisioningSection)
    ui: UiSection = Field(default_factory=UiSection)
    live_view: LiveViewSection = Field(default_factory=LiveViewSection,
                                       description="On-demand camera live view, sized for 4G")

    _slug = field_validator("commune")(lambda v: check_id(v, "commune"))

    @field_validator("instance")
    @classmethod
    def _instance_name(cls, v: str | None) -> str | None:
        if v is not None and not INSTANCE_RE.fullmatch(v):
            raise ValueError(f"tên tiến trình HQ {v!r} không hợp lệ: dùng 1-40 ký tự a-z, 0-9 hoặc '-', bắt đầu bằng "
                             f"chữ hoặc số (invalid HQ instance name: 1-40 characters a-z, 0-9 or '-', starting "
                             f"with a letter or digit)")
        return v

    @property
    def instance_name(self) -> str:
        """``instance``, else one derived from the host name (``hq`` if nothing usable is left of it)."""
        return self.instance or default_instance(socket.gethostname())

    @property
    def key_path(self) -> Path:
        return self.private_key or self.data_dir / "keys" / "hq_ed25519.key"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'hq.sqlite3'}"

    def resolve_paths(self, base: Path) -> HqConfig:
        def anchor(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else (base / p).resolve())

        def anchor_all(section: BaseModel | None) -> BaseModel | None:
            """Anchor every Path field of a (sub)section."""
            if section is None:
                return None
            update: dict[str, object] = {}
            for name in type(section).model_fields:
                value = getattr(section, name)
                if isinstance(value, Path):
                    update[name] = anchor(value)
                elif isinstance(value, BaseModel):
                    update[name] = anchor_all(value)
            return section.model_copy(update=update)

        return self.model_copy(update={"data_dir": anchor(self.data_dir), "private_key": anchor(self.private_key),
                                       "broker": anchor_all(self.broker),
                                       "embedded_broker": anchor_all(self.embedded_broker),
                                       "http": anchor_all(self.http), "provisioning": anchor_all(self.provisioning)})

    def broker_password(self) -> str | None:
        """HQ's password for an external broker (``broker.password_file`` read now, at start-up)."""
        b = self.broker
        if b is None:
            return None
        if b.password_file is not None:
            try:
                return b.password_file.read_text("utf-8").strip()
            except OSError as err:
                raise ConfigError(f"broker.password_file: cannot read {b.password_file}: {err}") from err
        return b.password


INSTANCE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def default_instance(hostname: str) -> str:
    """The host name as an instance name: lower case, other characters as '-', at most 40; else ``hq``."""
    name = re.sub(r"[^a-z0-9-]+", "-", hostname.lower()).strip("-")[:40].strip("-")
    return name if name and INSTANCE_RE.fullmatch(name) else "hq"


def load_config(path: Path) -> HqConfig:
    path = Path(path)
    return validate_config(HqConfig, read_yaml_mapping(path), str(path)).resolve_paths(path.parent.resolve())


def tls_listener(cfg: HqConfig) -> TlsListener | None:
    """The embedded broker's TLS listener for nodes, from ``embedded_broker.tls``."""
    t = cfg.embedded_broker.tls
    if t is None:
        return None
    return TlsListener(port=t.port, cert=t.cert, key=t.key, host=t.host, client_ca=t.client_ca)


def broker_tls_files(cfg: HqConfig) -> dict[str, str | None]:
    """``LinkConfig`` TLS arguments for HQ's connection to an external broker (none for the embedded one)."""
    tls = cfg.broker.tls if cfg.broker else None
    if tls is None:
        return {}
    return {"tls_ca": str(tls.ca), "tls_cert": str(tls.cert) if tls.cert else None,
            "tls_key": str(tls.key) if tls.key else None}


def https_context(cfg: HqConfig) -> ssl.SSLContext | None:
    """Server TLS context when HQ serves HTTPS itself (``http.tls_cert``); None for plain HTTP."""
    if cfg.http.tls_cert is None or cfg.http.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cfg.http.tls_cert, cfg.http.tls_key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"http.tls_cert / http.tls_key: cannot load {cfg.http.tls_cert}: {err}") from err
    return ctx
