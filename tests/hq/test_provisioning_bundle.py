"""The bundle HQ makes for a node: the production example's settings, the node's own values, its files."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_agent.config import parse_config
from edge_agent.config_lint import production_warnings
from hq_server.provisioning import Endpoints, NodeRequest, build_bundle, key_fingerprint, node_settings, write_bundle
from loaxa_common.certs import describe, make_ca
from loaxa_contract import signing

REPO = Path(__file__).resolve().parents[2]
ENDS = Endpoints("mqtt.xa-demo.vn", 8883, "https://hq.xa-demo.vn")


def _strip(d: object) -> object:
    return {k: _strip(v) for k, v in d.items()} if isinstance(d, dict) else d


def test_speaker_settings_equal_the_production_example() -> None:
    example = yaml.safe_load((REPO / "firmware_configs" / "speaker-node.example.yaml").read_text("utf-8"))
    made = node_settings(NodeRequest("thon-1-loa-1", ("thon-1",)), ENDS)
    made["node"]["commune"] = "xa-demo"
    for section, values in made.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert example[section].get(key) == value, (section, key)
        else:
            assert example[section] == values, section


def test_camera_and_mixed_kinds() -> None:
    cam = node_settings(NodeRequest("cong-an-1", ("trung-tam",), "camera"), ENDS)
    assert cam["audio"] == {"sink": "null"} and cam["cameras"] == [] and "amplifier" not in cam
    mixed = node_settings(NodeRequest("cho-1", ("thon-2",), "mixed"), ENDS)
    assert mixed["audio"]["sink"] == "alsa" and mixed["cameras"] == []


def test_bundle_files_load_on_a_node_and_are_production_clean(tmp_path: Path) -> None:
    ca, _ = make_ca(tmp_path / "pki", "xa-demo")
    _, pub = signing.generate_keypair(tmp_path / "keys")
    ends = Endpoints("10.8.0.1", 8883, "https://10.8.0.1:8443", hq_https_by_ca=True)
    bundle = build_bundle(NodeRequest("thon-2-loa-3", ("thon-2",)), "xa-demo", "mat-khau", ends,
                          ca_pem=ca.read_bytes(), hq_public_pem=pub.read_bytes())
    assert bundle.ca_fingerprint == describe(ca).sha256
    assert bundle.hq_key_fingerprint == key_fingerprint(pub.read_bytes())
    assert bundle.hq_key_fingerprint == signing.fingerprint(signing.load_public_key(pub))  # as doctor prints it
    out = tmp_path / "bundle"
    write_bundle(bundle, out)
    assert (out / "mqtt-password").read_text() == "mat-khau\n"
    assert (out / "mqtt-password").stat().st_mode & 0o777 == 0o600
    assert (out / "node.yaml").stat().st_mode & 0o777 == 0o640
    raw = yaml.safe_load((out / "node.yaml").read_text())
    assert (out / "node.yaml").read_text().startswith("# LoaXa node thon-2-loa-3")
    cfg = parse_config(raw, base=out)
    assert cfg.node.id == "thon-2-loa-3" and cfg.node.commune == "xa-demo" and cfg.node.zones == ["thon-2"]
    assert cfg.broker.username == "thon-2-loa-3" and cfg.broker.host == "10.8.0.1" and cfg.broker.port == 8883
    assert str(cfg.broker.tls.ca) == "/etc/loaxa/ca.crt" and str(cfg.audio.hq_ca) == "/etc/loaxa/ca.crt"
    assert production_warnings(cfg, raw) == []
