"""Config errors name the file, the line and the field, and suggest the name a typo meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import NodeConfig, load_config
from hq_server.config import load_config as load_hq
from loaxa_common.config import ConfigError, fields_at, suggest


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "en")


def _error(tmp_path: Path, text: str, loader=load_config) -> str:
    path = tmp_path / "node.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        loader(path)
    return str(info.value)


def test_every_problem_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    msg = _error(tmp_path, """\
node:
  id: loa-1
  commune: xa-demo
broker:
  port: 70000
  keepalive: 30
security:
  hq_public_key: /x
amplifer:
  backend: gpioset
cameras:
  - id: c1
    url: rtsp://10.0.0.2/s
    thresholds: {blur_sharpnes_min: 3}
""")
    lines = msg.splitlines()
    assert lines[0] == f"{tmp_path / 'node.yaml'}: 4 problem(s):"
    assert lines[1:] == [
        "  line 5: broker.port: 70000 is out of range: must be at most 65535",
        "  line 6: broker.keepalive: unknown setting; did you mean `keepalive_s`?",
        "  line 9: amplifer: unknown setting; did you mean `amplifier`?",
        "  line 14: cameras.0.thresholds.blur_sharpnes_min: unknown setting; did you mean `blur_sharpness_min`?",
    ]


def test_missing_section_and_wrong_kinds(tmp_path: Path) -> None:
    msg = _error(tmp_path, "node:\n  id: loa-1\n  commune: xa\naudio:\n  sink: bluetooth\n  volume: loud\n")
    assert "security: required setting is missing" in msg
    assert "line 5: audio.sink: 'bluetooth' is not one of: 'alsa', 'file' or 'null'" in msg
    assert "line 6: audio.volume: 'loud' is not a number" in msg


def test_our_own_validators_keep_their_words(tmp_path: Path) -> None:
    msg = _error(tmp_path, "node: {id: Loa 1, commune: xa}\nsecurity: {hq_public_key: /x}\n")
    assert "line 1: node.id:" in msg and "not a valid id" in msg and "Value error" not in msg


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "node:\n  id: [unclosed\n")
    assert "not valid YAML" in msg and "line" in msg


def test_hq_config_too(tmp_path: Path) -> None:
    msg = _error(tmp_path, "commune: xa\nhttp:\n  prot: 8080\n", loader=load_hq)
    assert "line 3: http.prot: unknown setting; did you mean `port`?" in msg


def test_vietnamese_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGUAGE")
    monkeypatch.setenv("LANG", "C.UTF-8")  # a Pi with no locale set
    msg = _error(tmp_path, "node: {id: loa-1, commune: xa}\nsecurity: {hq_public_key: /x}\nbroker: {keepalive: 3}\n")
    assert "dòng 3: broker.keepalive: mục không tồn tại; có phải ý bạn là `keepalive_s`?" in msg, msg


def test_fields_and_suggestions() -> None:
    assert "keepalive_s" in fields_at(NodeConfig, ("broker",))
    assert "blur_sharpness_min" in fields_at(NodeConfig, ("cameras", 0, "thresholds"))
    assert fields_at(NodeConfig, ("tts", "engine_options")) == []
    assert suggest("keepalive", ["host", "keepalive_s"]) == "keepalive_s"
    assert suggest("zzz", ["host", "port"]) is None
