"""Operator commands: ``edge-agent say`` and ``edge-agent doctor`` (doctor against a real Mosquitto)."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_agent.cli import main
from loaxa_link.mosquitto import free_port


def write_config(make_node_config, path: Path, **kw) -> Path:
    cfg = make_node_config("loa-1", **kw)
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True))
    return path


def test_say_speaks_through_the_chain_to_the_sink(make_node_config, tmp_path, capsys):
    cfg_path = write_config(make_node_config, tmp_path / "node.yaml", amplifier__warmup_s=0)
    assert main(["say", "--config", str(cfg_path), "UBND xã thông báo lúc 7h30.", "--chime"]) == 0
    out = capsys.readouterr().out
    assert "7h30" not in out.splitlines()[0] and "played" in out
    played = list((tmp_path / "loa-1" / "played").glob("*say.wav"))
    assert len(played) == 1
    relay = (tmp_path / "loa-1" / "state" / "relay.log").read_text().splitlines()
    assert '"on": true' in relay[0] and '"on": false' in relay[-1]


def test_doctor_passes_with_a_broker_and_fails_without(make_node_config, broker, tmp_path, capsys):
    good = write_config(make_node_config, tmp_path / "good.yaml", port=broker.port)
    assert main(["doctor", "--config", str(good), "--broker-timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] broker" in out and "[PASS] tts espeak" in out and "[PASS] amplifier relay" in out
    bad = write_config(make_node_config, tmp_path / "bad.yaml", port=free_port())
    assert main(["doctor", "--config", str(bad), "--broker-timeout", "1.5"]) == 1
    assert "[FAIL] broker" in capsys.readouterr().out
