"""Node configuration: small typed models, ``extra="forbid"``, every field described.

Loaded from YAML at start-up; any mistake stops the agent with one precise line per problem
(``broker.port: Input should be less than or equal to 65535``) rather than failing later in the
field. Relative paths are resolved against the config file's directory; secrets (broker password)
may come from a file so the YAML can be shared.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_agent.camera.config import CameraConfig
from loaxa_common.cli_text import _
from loaxa_common.config import ConfigError, read_yaml_mapping, suggest, validate_config
from loaxa_contract.models import ProgramWindow
from loaxa_contract.topics import check_id


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
    volume: int = Field(default=100, ge=0, le=100, description="Node volume (%) until HQ sends set_volume")
    target_dbfs: float = Field(default=-16.0, ge=-40, le=-3, description="Loudness target (RMS dBFS) at 100 %")
    sample_rate: int = Field(default=22050, ge=8000, le=48000, description="Output sample rate (Hz)")
    chime_before: bool = Field(default=True, description="A bulletin with chime=true gets a chime before it")
    chime_after: bool = Field(default=False, description="…and after it")
    chime_file: Path | None = Field(default=None, description="Chime audio file; a two-tone chime is generated "
                                    "if omitted")
    hq_url: str | None = Field(default=None, description="HQ base URL for audio by hash (GET {hq_url}/audio/{sha256})")
    hq_ca: Path | None = Field(default=None, description="CA that signed HQ's HTTPS certificate (the commune CA); "
                               "omit when HQ has a public certificate")
    fetch_timeout_s: float = Field(default=30, ge=1, le=600, description="Timeout of one audio download")


class TtsSection(Section):
    voice: str = Field(default="vi", description="Voice wish: vi, vi-vn-x-central, vi-vn-x-south, "
                                                 "gender-accent (female-south) or engine:id")
    rate_wpm: int | None = Field(default=None, ge=80, le=300,
                                 description="Speaking rate, words per minute; empty = each voice's natural pace "
                                             "(espeak-ng: 140)")
    engines: list[str] = Field(default_factory=lambda: ["gtts", "espeak"], min_length=1,
                               description="Engine chain in order of preference: gtts, espeak, piper or "
                               "'package.module:Class'")
    engine_options: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                      description="Keyword options per engine, e.g. "
                                                      "{gtts: {timeout_s: 8}, piper: {model: /opt/vi.onnx}}")
    cache_dir: Path = Field(default=Path("cache/tts"), description="TTS cache directory (relative: to state_dir)")
    cache_max_mb: int = Field(default=200, ge=1, description="TTS cache size cap; least recently used evicted")
    max_chunk_chars: int = Field(default=300, ge=50, le=2000, description="Long texts are split at sentences")


    @field_validator("engines")
    @classmethod
    def _known_engines(cls, names: list[str]) -> list[str]:
        """A misspelt engine (``espeek``) is a config error now, not a node that falls silent later."""
        from loaxa_speech.tts.registry import BUILT_IN_ENGINES

        for name in names:
            if name not in BUILT_IN_ENGINES and ":" not in name:
                hint = suggest(name, list(BUILT_IN_ENGINES))
                raise ValueError(_("unknown TTS engine {name!r}: use {known} or 'package.module:Class'")
                                 .format(name=name, known=", ".join(BUILT_IN_ENGINES))
                                 + ("; " + _("did you mean `{name}`?").format(name=hint) if hint else ""))
        return names

class AmplifierSection(Section):
    backend: Literal["simulated", "gpioset", "sysfs"] = Field(default="simulated",
                                                             description="Relay driver; simulated logs transitions")
    chip: str = Field(default="gpiochip0", description="GPIO chip (gpioset backend)")
    line: int = Field(default=17, ge=0, le=512, description="GPIO line (BCM number) of the relay")
    active_low: bool = Field(default=False, description="Relay boards that switch on a low level")
    warmup_s: float = Field(default=1.0, ge=0, le=30, description="Amplifier on this long before audio")
    hold_s: float = Field(default=3.0, ge=0, le=600, description="Amplifier stays on this long after audio")
    log_file: Path | None = Field(default=None, description="Simulated backend: JSON-lines transition log "
                                  "(default state_dir/relay.log)")


class ProgrammeSection(Section):
    windows: list[ProgramWindow] = Field(default_factory=list, description="Daily programme windows (local time);"
                                         " empty = always open")
    quiet_start: time | None = Field(default=None, description="Start of quiet hours (only emergencies)")
    quiet_end: time | None = Field(default=None, description="End of quiet hours")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Time zone of windows and recurrences")


class ScheduleSection(Section):
    misfire_grace_s: int = Field(default=300, ge=1, le=86400, description="A timed bulletin missed by less "
                                 "(e.g. a reboot) plays late; by more it is acked expired")
    lead_s: float = Field(default=3.0, ge=0.5, le=60, description="Timed bulletins are prepared this long "
                          "before play_at (must exceed amplifier warm-up)")


class NodeConfig(Section):
    node: NodeSection
    broker: BrokerSection = Field(default_factory=BrokerSection)
    security: SecuritySection
    audio: AudioSection = Field(default_factory=AudioSection)
    tts: TtsSection = Field(default_factory=TtsSection)
    amplifier: AmplifierSection = Field(default_factory=AmplifierSection)
    programme: ProgrammeSection = Field(default_factory=ProgrammeSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    state_dir: Path = Field(default=Path("state"), description="Where the node keeps replay state, queues")
    health_interval_s: float = Field(default=60, ge=1, le=3600, description="Seconds between health reports")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Security cameras this node watches")
    camera_report_interval_s: float = Field(default=60, ge=5, le=3600,
                                            description="Seconds between periodic camera health reports")

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cams]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(dupes)}")
        return cams

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
            "audio": self.audio.model_copy(update={"file_dir": anchor(self.audio.file_dir),
                                                   "chime_file": anchor(self.audio.chime_file),
                                                   "hq_ca": anchor(self.audio.hq_ca)}),
            "tts": self.tts.model_copy(update={"cache_dir": self.tts.cache_dir if self.tts.cache_dir.is_absolute()
                                               else anchor(self.state_dir) / self.tts.cache_dir}),
            "amplifier": self.amplifier.model_copy(update={"log_file": anchor(self.amplifier.log_file)}),
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
    return validate_config(NodeConfig, data, source).resolve_paths(base or Path.cwd())


def load_config(path: Path) -> NodeConfig:
    """Load and validate a node config file; :class:`ConfigError` names the file and every problem."""
    path = Path(path)
    cfg = parse_config(read_yaml_mapping(path), source=str(path), base=path.parent.resolve())
    check_files(cfg, str(path))
    return cfg


def check_files(cfg: NodeConfig, source: str) -> None:
    """Files the node cannot run without must exist at start-up, not fail at the first command."""
    key = cfg.security.hq_public_key
    if not key.is_file():
        raise ConfigError(f"{source}: security.hq_public_key: file {key} does not exist "
                          "(copy hq_ed25519.pub from HQ: hq-server keygen)")
    hq_key_fingerprint(cfg, source)
    if cfg.broker.password_file and not cfg.broker.password_file.is_file():
        raise ConfigError(f"{source}: broker.password_file: file {cfg.broker.password_file} does not exist")
    tls = cfg.broker.tls
    if tls is not None:
        for name, path in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
            if path is not None and not path.is_file():
                raise ConfigError(f"{source}: broker.tls.{name}: file {path} does not exist "
                                  "(copy it from HQ's provisioning bundle)")
        if (tls.cert is None) != (tls.key is None):
            raise ConfigError(f"{source}: broker.tls: give both cert and key, or neither")


def hq_key_fingerprint(cfg: NodeConfig, source: str) -> str:
    """Parse HQ's public key (a garbage file is a config error, not a crash at ``run``); its fingerprint."""
    from loaxa_contract import signing

    try:
        return signing.fingerprint(signing.load_public_key(cfg.security.hq_public_key))
    except (OSError, ValueError) as err:
        raise ConfigError(_("{source}: security.hq_public_key: {path} is not HQ's Ed25519 public key ({error}); "
                            "copy hq_ed25519.pub from HQ again").format(source=source,
                                                                         path=cfg.security.hq_public_key,
                                                                         error=err)) from err
