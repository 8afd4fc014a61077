"""Node configuration: small typed models, ``extra="forbid"``, every field described.

Loaded from YAML at start-up; any mistake stops the agent with one precise line per problem
(``broker.port: Input should be less than or equal to 65535``) rather than failing later in the
field. Relative paths are resolved against the config file's directory; secrets (broker password)
may come from a file so the YAML can be shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loaxa_contract.codec import describe_validation_error
from loaxa_contract.topics import check_id


class ConfigError(ValueError):
    """The node config is missing, unreadable or invalid; the message names file, field and problem."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _slug(value: str) -> str:
    return check_id(value, "id")


class NodeSection(Section):
    id: str = Field(description="Node id, unique in the commune (slug, e.g. 'thon-1-loa-1')")
    commune: str = Field(description="Commune id, first level under the topic root (slug)")
    zones: list[str] = Field(default_factory=list, description="Villages/zones this node belongs to")
    kind: Literal["speaker", "camera", "mixed"] = Field(default="speaker", description="What the node drives")
    _check_id = field_validator("id", "commune")(_slug)

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        return [check_id(z, "zone") for z in v]


class TlsSection(Section):
    ca: Path = Field(description="CA certificate that signed the broker's certificate")
    cert: Path | None = Field(default=None, description="Client certificate (per-node identity)")
    key: Path | None = Field(default=None, description="Client private key")


class BrokerSection(Section):
    host: str = Field(default="127.0.0.1", description="Broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port (8883 for TLS)")
    username: str | None = Field(default=None, description="MQTT user name (usually the node id)")
    password: str | None = Field(default=None, description="MQTT password; prefer password_file")
    password_file: Path | None = Field(default=None, description="File holding the MQTT password")
    tls: TlsSection | None = Field(default=None, description="TLS settings; omit for plain TCP on a LAN")
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keepalive; short detects 4G drops")
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60, description="How long the broker keeps "
                                  "commands for this node while it is offline")

    @model_validator(mode="after")
    def _one_password(self) -> BrokerSection:
        if self.password and self.password_file:
            raise ValueError("give either password or password_file, not both")
        return self


class SecuritySection(Section):
    hq_public_key: Path = Field(description="PEM Ed25519 public key of HQ (hq-server keygen writes it)")


class AudioSection(Section):
    sink: Literal["alsa", "file", "null"] = Field(default="alsa", description="Where audio goes")
    alsa_device: str = Field(default="default", description="ALSA device for aplay -D")
    file_dir: Path = Field(default=Path("played"), description="Directory of the file sink")


class TtsSection(Section):
    voice: str = Field(default="vi", description="Offline voice: vi, vi-vn-x-central or vi-vn-x-south")
    rate_wpm: int = Field(default=150, ge=80, le=300, description="Speaking rate, words per minute")


class NodeConfig(Section):
    node: NodeSection
    broker: BrokerSection = Field(default_factory=BrokerSection)
    security: SecuritySection
    audio: AudioSection = Field(default_factory=AudioSection)
    tts: TtsSection = Field(default_factory=TtsSection)
    state_dir: Path = Field(default=Path("state"), description="Where the node keeps replay state, queues")
    health_interval_s: float = Field(default=60, ge=1, le=3600, description="Seconds between health reports")

    def resolve_paths(self, base: Path) -> NodeConfig:
        """Return a copy whose relative paths are anchored at ``base`` (the config file's directory)."""

        def anchor(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else (base / p).resolve())

        broker = self.broker
        if broker.password_file or broker.tls:
            broker = broker.model_copy(update={
                "password_file": anchor(broker.password_file),
                "tls": None if broker.tls is None else broker.tls.model_copy(update={
                    "ca": anchor(broker.tls.ca), "cert": anchor(broker.tls.cert), "key": anchor(broker.tls.key)}),
            })
        return self.model_copy(update={
            "broker": broker,
            "security": self.security.model_copy(update={"hq_public_key": anchor(self.security.hq_public_key)}),
            "audio": self.audio.model_copy(update={"file_dir": anchor(self.audio.file_dir)}),
            "state_dir": anchor(self.state_dir),
        })

    def broker_password(self) -> str | None:
        if self.broker.password_file:
            try:
                return self.broker.password_file.read_text().strip()
            except OSError as err:
                raise ConfigError(f"broker.password_file: cannot read {self.broker.password_file}: {err}") from err
        return self.broker.password


def parse_config(data: object, *, source: str = "<config>", base: Path | None = None) -> NodeConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(data).__name__}")
    try:
        cfg = NodeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_validation_error(err)}") from err
    return cfg.resolve_paths(base or Path.cwd())


def load_config(path: Path) -> NodeConfig:
    """Load and validate a node config file; :class:`ConfigError` names the file and every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    cfg = parse_config(data, source=str(path), base=path.parent.resolve())
    check_files(cfg, str(path))
    return cfg


def check_files(cfg: NodeConfig, source: str) -> None:
    """Files the node cannot run without must exist at start-up, not fail at the first command."""
    key = cfg.security.hq_public_key
    if not key.is_file():
        raise ConfigError(f"{source}: security.hq_public_key: file {key} does not exist "
                          "(copy hq_ed25519.pub from HQ: hq-server keygen)")
    if cfg.broker.password_file and not cfg.broker.password_file.is_file():
        raise ConfigError(f"{source}: broker.password_file: file {cfg.broker.password_file} does not exist")
