"""HQ configuration (YAML), strict and described like the node config.

With no ``broker`` section HQ starts its own Mosquitto on loopback (the one-machine default).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loaxa_contract.codec import describe_validation_error
from loaxa_contract.topics import check_id


class ConfigError(ValueError):
    pass


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokerSection(Section):
    host: str = Field(default="127.0.0.1", description="Broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port")
    username: str | None = Field(default=None, description="HQ's MQTT user")
    password: str | None = Field(default=None, description="HQ's MQTT password")


class EmbeddedBrokerSection(Section):
    port: int = Field(default=1883, ge=0, le=65535, description="Loopback port of the embedded Mosquitto (0 = any)")


class HqConfig(Section):
    commune: str = Field(description="Commune id (slug), the topic root below loaxa/v1/")
    data_dir: Path = Field(default=Path("var/hq"), description="Keys, database, rendered audio, broker data")
    broker: BrokerSection | None = Field(default=None, description="External broker; omit to embed Mosquitto")
    embedded_broker: EmbeddedBrokerSection = Field(default_factory=EmbeddedBrokerSection)
    private_key: Path | None = Field(default=None, description="HQ Ed25519 key; default data_dir/keys/hq_ed25519.key")
    command_ttl_s: int = Field(default=3600, ge=10, description="Default lifetime of a command before it expires")

    _slug = field_validator("commune")(lambda v: check_id(v, "commune"))

    @property
    def key_path(self) -> Path:
        return self.private_key or self.data_dir / "keys" / "hq_ed25519.key"

    def resolve_paths(self, base: Path) -> HqConfig:
        def anchor(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else (base / p).resolve())

        return self.model_copy(update={"data_dir": anchor(self.data_dir), "private_key": anchor(self.private_key)})


def load_config(path: Path) -> HqConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    try:
        return HqConfig.model_validate(data).resolve_paths(path.parent.resolve())
    except ValidationError as err:
        raise ConfigError(f"{path}: {describe_validation_error(err)}") from err
