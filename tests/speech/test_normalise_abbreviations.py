"""Tests for the commune abbreviation file loader and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaxa_speech.normalise import AbbreviationFileError, Normaliser, load_abbreviations


def test_load_yaml_mapping_and_use_it(tmp_path: Path) -> None:
    path = tmp_path / "abbr.yaml"
    path.write_text("# Tân Lập\nHTXDVNN: hợp tác xã dịch vụ nông nghiệp\nBQL chợ: ban quản lý chợ\n", encoding="utf-8")
    entries = load_abbreviations(path)
    assert entries == {"HTXDVNN": "hợp tác xã dịch vụ nông nghiệp", "BQL chợ": "ban quản lý chợ"}
    normaliser = Normaliser(extra_abbreviations=entries)
    assert normaliser.normalise("HTXDVNN họp") == "Hợp tác xã dịch vụ nông nghiệp họp"
    assert normaliser.normalise("BQL chợ thông báo") == "Ban quản lý chợ thông báo"
    assert normaliser.normalise("tại UBND") == "tại ủy ban nhân dân"  # defaults still there


def test_empty_file_is_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_abbreviations(path) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- UBND\n- HĐND\n", "expected a mapping"),
        ("UBND: [a, b]\n", "must be a non-empty string"),
        ("UBND:\n", "must be a non-empty string"),
        ("12: mười hai\n", "must be a non-empty string"),
        ("UBND: 'ủy ban\n", "not valid YAML"),
        ("just a sentence", "expected a mapping"),
    ],
)
def test_bad_file_gives_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AbbreviationFileError, match=message) as info:
        load_abbreviations(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AbbreviationFileError, match="cannot read"):
        load_abbreviations(tmp_path / "nope.yaml")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("UBND: ủy ban".encode("utf-16"))
    with pytest.raises(AbbreviationFileError, match="UTF-8"):
        load_abbreviations(path)


@pytest.mark.parametrize("bad", [{"": "x"}, {"UBND": ""}, {"UBND": 3}])
def test_bad_extra_mapping_in_code(bad: dict) -> None:
    with pytest.raises(AbbreviationFileError):
        Normaliser(extra_abbreviations=bad)
