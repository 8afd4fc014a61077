"""What HQ believes of a node's message: the sender from the topic, every claim checked against HQ's records.

The broker's ACL lets a node publish only under its own ``node/{node}/…`` (``loaxa_link.credentials``),
so the topic a message arrived on proves which node sent it. The payload is only what that node
*says*; HQ acts on it only where HQ's own records agree (pure rules here, I/O in the orchestrator):

* the ``node`` (and ``camera``) fields must name the topic's node (and camera): a message whose payload
  disagrees is dropped, counted, logged, and alerted on when a node keeps doing it;
* an ack counts only for a command HQ sent and whose target reaches that node (its id, one of its
  zones, or ``all``), and only for the bulletin of that command;
* a camera's health is taken only from the node the camera is bound to (registered by a technician, or
  the first node that reported it); another node's claim is refused and alerted, never a re-bind.

Refusals raise :class:`InboundRefused`; :class:`RepeatTracker` decides when repeated refusals become an
alert (once per node and reason per window, so a misbehaving node cannot flood the alert log).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from loaxa_contract.topics import ParsedTopic, parse_target


class Refusal(StrEnum):
    IDENTITY_MISMATCH = "identity_mismatch"
    """The payload names another node (or camera) than the topic it was published on."""
    UNKNOWN_COMMAND = "unknown_command"
    """An ack of a command HQ has no record of (e.g. sent by ``hq-server send`` directly, or made up)."""
    NOT_TARGETED = "not_targeted"
    """An ack of a command whose target does not reach the acking node."""
    BULLETIN_MISMATCH = "bulletin_mismatch"
    """An ack whose ``bulletin_id`` is not the bulletin of the command it acknowledges."""
    CAMERA_CLAIM = "camera_claim"
    """Health of a camera bound to another node."""


ALERTED_AFTER: dict[Refusal, int] = {
    Refusal.IDENTITY_MISMATCH: 3,
    Refusal.NOT_TARGETED: 3,
    Refusal.BULLETIN_MISMATCH: 3,
    Refusal.CAMERA_CLAIM: 1,  # one claim is already a wiring mistake or an impostor
}
"""Refusals of one kind from one node within :data:`ALERT_WINDOW_S` that raise an alert (absent: never)."""

ALERT_WINDOW_S = 600.0


class InboundRefused(Exception):
    """A node's message HQ does not act on; ``reason`` for the metric, ``detail`` for the log."""

    def __init__(self, reason: Refusal, node: str, detail: str, subject: str | None = None) -> None:
        super().__init__(f"{reason.value} from {node}: {detail}")
        self.reason = reason
        self.node = node
        self.detail = detail
        self.subject = subject or node
        """What the alert is about: the node, or the camera it claimed."""


def check_identity(topic: ParsedTopic, payload_node: str, payload_camera: str | None = None) -> str:
    """The sender (the topic's node) if the payload agrees with the topic; else :class:`InboundRefused`."""
    sender = topic.node
    if sender is None:
        raise ValueError(f"{topic.kind.value} topics do not name a node")
    if payload_node != sender:
        raise InboundRefused(Refusal.IDENTITY_MISMATCH, sender,
                             f"{topic.kind.value} payload says node {payload_node!r}")
    camera = topic.ids.get("camera")
    if camera is not None and payload_camera != camera:
        raise InboundRefused(Refusal.IDENTITY_MISMATCH, sender,
                             f"{topic.kind.value} of camera {camera!r} carries camera {payload_camera!r}")
    return sender


def command_reaches(target: str, node: str, node_zones: list[str] | tuple[str, ...]) -> bool:
    """True when a command sent to ``target`` (``all`` / ``zone:Z`` / ``node:ID``) was meant for ``node``."""
    kind, ident = parse_target(target)
    return kind == "all" or (kind == "node" and ident == node) or (kind == "zone" and ident in node_zones)


@dataclass
class RepeatTracker:
    """Counts refusals per (node, reason) in a sliding window; says when to raise the one alert.

    Pure: the caller passes the time. After an alert the key stays quiet until its window has passed
    with fewer refusals than the threshold again.
    """

    window_s: float = ALERT_WINDOW_S
    thresholds: dict[Refusal, int] = field(default_factory=lambda: dict(ALERTED_AFTER))
    max_keys: int = 10_000
    _seen: dict[tuple[str, Refusal], deque[float]] = field(default_factory=dict)
    _alerted_at: dict[tuple[str, Refusal], float] = field(default_factory=dict)

    def record(self, subject: str, reason: Refusal, at: float) -> bool:
        """Count one refusal; True when it should raise an alert now."""
        threshold = self.thresholds.get(reason)
        if threshold is None:
            return False
        key = (subject, reason)
        times = self._seen.setdefault(key, deque())
        times.append(at)
        while times and times[0] <= at - self.window_s:
            times.popleft()
        if len(self._seen) > self.max_keys:  # bounded memory whatever ids a node invents
            self._seen.pop(next(iter(self._seen)))
        last = self._alerted_at.get(key)
        if len(times) < threshold or (last is not None and at - last < self.window_s):
            return False
        self._alerted_at[key] = at
        if len(self._alerted_at) > self.max_keys:
            self._alerted_at.pop(next(iter(self._alerted_at)))
        return True


def alert_for(refused: InboundRefused) -> tuple[str, str]:
    """(severity, message) of the alert for repeated refusals: Vietnamese first, English in parentheses."""
    node, detail = refused.node, refused.detail
    if refused.reason == Refusal.CAMERA_CLAIM:
        return "critical", (f"Nút {node} gửi trạng thái camera {refused.subject} đang gắn với nút khác; HQ không "
                            f"đổi chủ camera — kiểm tra cấu hình nút (node {node} claims camera {refused.subject}, "
                            f"bound to another node; not re-bound: {detail})")
    what = {
        Refusal.IDENTITY_MISMATCH: "tin nhắn mang danh nút hoặc camera khác",
        Refusal.NOT_TARGETED: "xác nhận cho lệnh không gửi tới nút này",
        Refusal.BULLETIN_MISMATCH: "xác nhận sai bản tin",
    }.get(refused.reason, refused.reason.value)
    return "warning", (f"Nút {node} liên tục gửi {what}; HQ bỏ qua — có thể nút bị cấu hình sai hoặc bị giả mạo "
                       f"({refused.reason.value}: {detail})")
