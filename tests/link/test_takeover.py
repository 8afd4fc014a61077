"""Classifying lost connections: a duplicate client id versus ordinary network trouble (pure)."""

from __future__ import annotations

from loaxa_link.takeover import STREAK, LostConnection, Verdict, classify


def test_the_mqtt5_reason_is_a_takeover_at_once() -> None:
    assert classify(LostConnection(300.0, 142, True), 0, False) == Verdict.TAKEOVER


def test_a_streak_of_connections_closed_right_after_connecting_is_a_takeover() -> None:
    short = LostConnection(0.6, 128, False)
    verdicts = [classify(short, streak, False) for streak in range(STREAK)]
    assert verdicts == [Verdict.SHORT] * (STREAK - 1) + [Verdict.TAKEOVER]
    assert classify(short, 0, True) == Verdict.TAKEOVER  # once suspected, one more confirms it


def test_ordinary_trouble_is_not_a_takeover() -> None:
    assert classify(LostConnection(45.0, 128, False), STREAK, False) == Verdict.NORMAL  # keepalive timeout
    assert classify(LostConnection(0.5, 135, True), STREAK, False) == Verdict.NORMAL  # broker said why
