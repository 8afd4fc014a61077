"""Is another client using our client id? Classify each lost connection (pure, no I/O).

Two devices configured with the same node id share one MQTT client id: each (re)connect makes the
broker drop the other, and both reconnect within a second — forever, each holding the session half
the time. MQTT 5 brokers may say so (DISCONNECT reason 142, *session taken over*); Mosquitto 2.0.11,
measured, just closes the old connection. So a takeover is either that reason code, or a streak of
connections the broker closed within seconds of accepting them (a broker restart refuses the
reconnect instead; a flaky radio link drops on keepalive timeouts, after tens of seconds). Once
suspected, one more short connection confirms it; a connection that lasts clears the suspicion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SESSION_TAKEN_OVER = 142
"""MQTT 5 DISCONNECT reason: another connection with the same client id took this session over."""
SHORT_S = 5.0
"""A connection the broker closed sooner than this after accepting it is suspicious."""
STREAK = 4
"""Suspicious connections in a row that make a takeover."""
STABLE_S = 600.0
"""A connection that lasted this long clears the suspicion (and the back-off level)."""


class Verdict(StrEnum):
    TAKEOVER = "takeover"
    SHORT = "short"
    NORMAL = "normal"


@dataclass(frozen=True)
class LostConnection:
    lasted_s: float
    reason: int | None  # MQTT 5 reason code, if any
    from_broker_packet: bool  # the broker sent DISCONNECT (vs. the socket closing)


def classify(lost: LostConnection, streak: int, suspected: bool) -> Verdict:
    if lost.reason == SESSION_TAKEN_OVER:
        return Verdict.TAKEOVER
    if lost.from_broker_packet or lost.lasted_s >= SHORT_S:
        return Verdict.NORMAL
    if suspected or streak + 1 >= STREAK:
        return Verdict.TAKEOVER
    return Verdict.SHORT
