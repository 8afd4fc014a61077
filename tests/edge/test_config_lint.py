"""check-config's warnings: demo settings left on a node are named, the production example has none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from edge_agent.config import parse_config
from edge_agent.config_lint import production_warnings
from loaxa_common.certs import make_ca
from tests.conftest import EXAMPLE_NODE_CONFIG, REPO

PRODUCTION = REPO / "firmware_configs" / "speaker-node.example.yaml"
BIN = Path(sys.executable).parent


def _fields(raw: dict, base: Path) -> set[str]:
    cfg = parse_config(raw, base=base)
    return {w.field for w in production_warnings(cfg, raw)}


def test_demo_config_is_flagged_field_by_field(tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE_NODE_CONFIG.read_text("utf-8"))
    fields = _fields(raw, tmp_path)
    assert {"audio.sink", "amplifier.backend", "state_dir", "audio.file_dir", "security.hq_public_key",
            "broker.host"} <= fields


def test_production_example_is_clean(tmp_path: Path) -> None:
    assert _fields(yaml.safe_load(PRODUCTION.read_text("utf-8")), tmp_path) == set()


def test_remote_broker_without_tls_or_with_inline_password(tmp_path: Path) -> None:
    raw = yaml.safe_load(PRODUCTION.read_text("utf-8"))
    raw["broker"].pop("tls")
    raw["broker"].pop("password_file")
    raw["broker"]["password"] = "lo-ra"
    assert _fields(raw, tmp_path) == {"broker.tls", "broker.password"}
    raw["broker"].pop("username")
    raw["broker"].pop("password")
    assert "broker.username" in _fields(raw, tmp_path)


def test_camera_node_may_have_no_loudspeaker(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "firmware_configs" / "camera-node.example.yaml").read_text("utf-8"))
    assert _fields(raw, tmp_path) == set()


def test_check_config_cli_warns_and_strict_fails(tmp_path: Path, hq_keys) -> None:
    raw = yaml.safe_load(EXAMPLE_NODE_CONFIG.read_text("utf-8"))
    raw["security"]["hq_public_key"] = str(hq_keys[1])
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    env = {**os.environ, "LANGUAGE": "en"}
    res = subprocess.run([BIN / "edge-agent", "check-config", "--config", path], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "WARNING audio.sink" in res.stdout and "WARNING amplifier.backend" in res.stdout
    strict = subprocess.run([BIN / "edge-agent", "check-config", "--strict", "--config", path], capture_output=True,
                            text=True, timeout=60, env=env)
    assert strict.returncode == 1


def test_missing_tls_files_are_config_errors(tmp_path: Path, hq_keys) -> None:
    raw = yaml.safe_load(PRODUCTION.read_text("utf-8"))
    raw["security"]["hq_public_key"] = str(hq_keys[1])
    (tmp_path / "pw").write_text("x")
    raw["broker"]["password_file"] = str(tmp_path / "pw")
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(raw))
    res = subprocess.run([BIN / "edge-agent", "check-config", "--config", path], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and "broker.tls.ca" in res.stderr and "/etc/loaxa/ca.crt" in res.stderr
    raw["broker"]["tls"] = {"ca": str(make_ca(tmp_path / "pki", "xa")[0]), "cert": str(tmp_path / "pw")}
    path.write_text(yaml.safe_dump(raw))
    res = subprocess.run([BIN / "edge-agent", "check-config", "--config", path], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and "both cert and key" in res.stderr
