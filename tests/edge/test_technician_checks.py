"""Technician checks that tell the truth: check-config parses HQ's key and engines, doctor opens the
audio device, warns on an unknown clock, reads a frame from each camera, reports a duplicate node id."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import yaml

from edge_agent import doctor
from edge_agent.cli import main
from edge_agent.control import takeover
from edge_agent.playback.sinks import _silence
from hq_server.cli import main as hq_main
from loaxa_contract import signing
from loaxa_link.mosquitto import free_port

FINGERPRINT = re.compile(r"[0-9a-f]{4}(?::[0-9a-f]{4}){7}")


def write_config(make_node_config, path: Path, **kw) -> Path:
    cfg = make_node_config("loa-1", **kw)
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True))
    return path


def doctor_lines(cfg_path: Path, capsys) -> dict[str, str]:
    main(["doctor", "--config", str(cfg_path), "--broker-timeout", "0.5"])
    out = capsys.readouterr().out
    return {m.group(2): m.group(1) for m in re.finditer(r"^\[(PASS|WARN|FAIL)\] ([^:]+):", out, re.M)}


def test_check_config_prints_the_fingerprint_hq_keygen_printed(make_node_config, tmp_path, capsys):
    assert hq_main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    hq_fp = FINGERPRINT.findall(capsys.readouterr().out)
    pub = tmp_path / "keys" / "hq_ed25519.pub"
    cfg = write_config(make_node_config, tmp_path / "node.yaml", security__hq_public_key=str(pub))
    assert main(["check-config", "--config", str(cfg)]) == 0
    node_fp = FINGERPRINT.findall(capsys.readouterr().out)
    assert hq_fp == node_fp == [signing.fingerprint(signing.load_public_key(pub))]
    other = signing.generate_keypair(tmp_path / "other")[1]
    assert signing.fingerprint(signing.load_public_key(other)) != hq_fp[0]  # another HQ's key shows


def test_a_garbage_hq_key_is_a_config_error_not_a_crash_at_run(make_node_config, tmp_path, capsys):
    garbage = tmp_path / "hq.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    cfg = write_config(make_node_config, tmp_path / "node.yaml", security__hq_public_key=str(garbage))
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "security.hq_public_key" in capsys.readouterr().err
    assert main(["doctor", "--config", str(cfg)]) == 2


def test_an_unknown_tts_engine_is_a_config_error(make_node_config, tmp_path, capsys):
    cfg = write_config(make_node_config, tmp_path / "node.yaml")
    raw = yaml.safe_load(cfg.read_text())
    raw["tts"]["engines"] = ["espeek"]  # a technician's typo in the file
    cfg.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert main(["check-config", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "espeek" in err and "`espeak`" in err


def aplay_works(device: str) -> bool:
    out = subprocess.run(["aplay", "-q", "-D", device, "-"], input=_silence(), capture_output=True, timeout=10)
    return out.returncode == 0


def test_doctor_opens_the_audio_device_for_real_and_say_fails_cleanly(make_node_config, tmp_path, capsys):
    cfg = write_config(make_node_config, tmp_path / "node.yaml", port=free_port(), audio__sink="alsa",
                       audio__alsa_device="default", amplifier__warmup_s=0)
    expected = "PASS" if aplay_works("default") else "FAIL"  # no sound card on CI: FAIL
    assert doctor_lines(cfg, capsys)["audio (alsa)"] == expected
    if expected == "FAIL":
        assert main(["say", "--config", str(cfg), "Thử loa."]) == 1  # a clear error, no traceback
        assert "aplay" in capsys.readouterr().err
        relay = (tmp_path / "loa-1" / "state" / "relay.log").read_text().splitlines()
        assert '"on": false' in relay[-1]


def test_doctor_warns_when_the_clock_offset_is_unknown(make_node_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "clock_offset_ms", lambda: (None, "no chronyc/timedatectl: clock offset unknown"))
    cfg = write_config(make_node_config, tmp_path / "node.yaml", port=free_port())
    assert doctor_lines(cfg, capsys)["clock"] == "WARN"


def test_doctor_reads_a_frame_from_each_camera(make_node_config, tmp_path, capsys, camera_sim):
    (_, cam), = list(camera_sim.items())[:1]
    quick = {"open_timeout_s": 2.0, "read_timeout_s": 2.0}
    cameras = [{"id": "cong-truong", "url": cam["url"], **quick},
               {"id": "mat-ket-noi", "url": f"http://127.0.0.1:{free_port()}/video", **quick}]
    cfg = write_config(make_node_config, tmp_path / "node.yaml", port=free_port(), cameras=cameras)
    lines = doctor_lines(cfg, capsys)
    assert lines["camera cong-truong"] == "PASS" and lines["camera mat-ket-noi"] == "FAIL"


def test_doctor_reports_a_duplicate_node_id(make_node_config, tmp_path, capsys):
    cfg = write_config(make_node_config, tmp_path / "node.yaml", port=free_port())
    assert doctor_lines(cfg, capsys)["node id"] == "PASS"
    takeover.record(tmp_path / "loa-1" / "state", 3, datetime.now(UTC))  # what the running agent writes
    assert doctor_lines(cfg, capsys)["node id"] == "FAIL"
