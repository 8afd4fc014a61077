"""When audio is made ready and whether a start can be on time (pure), and the on-disk WAVs."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta

from edge_agent.programme.readiness import (
    RENDER_AHEAD,
    Readiness,
    check_start,
    describe_start,
    ready_name,
    render_ahead,
)
from edge_agent.programme.ready_audio import ReadyAudio, complete_wav

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
BUDGET = timedelta(seconds=1.75)  # records + warm-up of a cold amplifier


def _wav(seconds: float = 0.2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buf.getvalue()


def test_timed_plays_are_rendered_at_admission_untimed_when_taken():
    assert render_ahead(play_at=NOW + timedelta(seconds=6), recurring=False, now=NOW)
    assert render_ahead(play_at=NOW - timedelta(seconds=2), recurring=False, now=NOW)  # late command: still ahead
    assert render_ahead(play_at=None, recurring=True, now=NOW)  # one WAV for every occurrence
    assert not render_ahead(play_at=None, recurring=False, now=NOW)
    assert not render_ahead(play_at=NOW + RENDER_AHEAD + timedelta(seconds=1), recurring=False, now=NOW)


def test_a_ready_play_taken_in_time_starts_on_time():
    start = NOW + timedelta(seconds=3)
    check = check_start(now=NOW, start_at=start, ready=True, budget=BUDGET)
    assert check.readiness is Readiness.READY and check.late_by == timedelta(0)
    just = check_start(now=start - BUDGET, start_at=start, ready=True, budget=BUDGET)
    assert just.readiness is Readiness.READY


def test_a_ready_play_taken_after_its_budget_starts_late_by_that_much():
    start = NOW + timedelta(seconds=1)
    check = check_start(now=NOW, start_at=start, ready=True, budget=BUDGET)
    assert check.readiness is Readiness.READY_LATE and check.late_by == timedelta(seconds=0.75)


def test_a_play_without_its_wav_is_rendered_first_late_only_if_past_its_budget():
    start = NOW + timedelta(seconds=3)
    assert check_start(now=NOW, start_at=start, ready=False, budget=BUDGET).late_by == timedelta(0)
    late = check_start(now=start, start_at=start, ready=False, budget=BUDGET)
    assert late.readiness is Readiness.RENDER_FIRST and late.late_by == BUDGET
    untimed = check_start(now=NOW, start_at=None, ready=False, budget=BUDGET)
    assert untimed.readiness is Readiness.RENDER_FIRST and untimed.late_by == timedelta(0)


def test_the_played_ack_says_how_late_the_start_was_and_why():
    start = NOW
    assert describe_start(None, NOW) is None
    assert describe_start(start, start + timedelta(milliseconds=3)) == "started on time (+3 ms)"
    assert describe_start(start, start + timedelta(seconds=2.5)) == "started 2500 ms late"
    assert describe_start(start, start + timedelta(seconds=2.5), rendered_late=True).endswith(
        "audio was not ready ahead and was rendered at the start")


def test_ready_names_never_match_another_bulletins_prefix():
    assert ready_name("b1", "c1", 80) == "b1~c1~v80.wav"
    assert not ready_name("b1.x", "c1", 80).startswith("b1~")


def test_ready_audio_is_per_command_and_volume_and_removed_with_its_bulletin(tmp_path):
    store = ReadyAudio(tmp_path / "ready")
    wav = _wav()
    store.put("b1", "c1", 100, wav)
    store.put("b1.x", "c9", 100, wav)
    assert store.get("b1", "c1", 100) == wav
    assert store.get("b1", "c1", 50) is None  # volume changed: render again
    store.put("b1", "c1", 50, wav)
    assert not store.has("b1", "c1", 100)  # one rendering per bulletin is kept
    store.discard("b1")
    assert not store.has("b1", "c1", 50) and store.has("b1.x", "c9", 100)
    assert store.sweep([]) == 1 and store.size_bytes() == 0


def test_a_truncated_wav_is_never_played_and_is_removed(tmp_path):
    store = ReadyAudio(tmp_path / "ready")
    wav = _wav()
    assert complete_wav(wav) and not complete_wav(wav[:-10]) and not complete_wav(b"RIFF")
    store.path("b1", "c1", 100).write_bytes(wav[: len(wav) // 2])  # a power cut during the write
    assert store.get("b1", "c1", 100) is None
    assert not store.has("b1", "c1", 100)


def test_start_up_sweep_keeps_what_is_held(tmp_path):
    store = ReadyAudio(tmp_path / "ready")
    store.put("keep", "c1", 100, _wav())
    store.put("gone", "c2", 100, _wav())
    (store.directory / ".ready.abc.tmp").write_bytes(b"x")
    assert store.sweep(["keep"]) == 2
    assert store.has("keep", "c1", 100) and not store.has("gone", "c2", 100)
