"""Loudspeakers and cameras as a technician or a police officer reads them (pure; translated by gettext).

One place decides what a node's or camera's state *means* on screen — online / offline / degraded with the
reasons, a camera whose node is offline — and formats the figures (23,5 °C, 1,2 GB, 40 ms), so the list,
the map, the node page and the live event streams always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hq_server.ui.fmt import Gettext, fmt_datetime, fmt_number


def _(s: str) -> str:  # extraction marker; translated by the caller's gettext
    return s


NODE_STATES = {"online": _("Online"), "offline": _("Offline"), "degraded": _("Needs attention"),
               "unknown": _("Never connected")}
NODE_TONE = {"online": "ok", "offline": "bad", "degraded": "warn", "unknown": "off"}
DISK_LOW_BYTES = 200 * 1024 * 1024
HOT_C = 75.0
CLOCK_OFF_MS = 2000.0

PROBLEMS = {"duplicate_node_id": _("another device uses the same node id"),
            "outbox_unreadable": _("stored reports were damaged"),
            "worker_restarted": _("a part of the agent crashed and was restarted")}


def problem_text(code: str, _: Gettext) -> str:
    return _(PROBLEMS[code.split(":")[0]]) if code.split(":")[0] in PROBLEMS else code


def degraded_reasons(health: dict[str, Any] | None, _: Gettext) -> list[str]:
    """Why an online node needs a technician, in plain words (empty: all is well)."""
    h = health or {}
    out: list[str] = []
    if h.get("audio_device_ok") is False:
        out.append(_("the sound card does not work"))
    disk = h.get("disk_free_bytes")
    if disk is not None and disk < DISK_LOW_BYTES:
        out.append(_("storage almost full (%(free)s free)") % {"free": bytes_text(disk)})
    temp = h.get("cpu_temp_c")
    if temp is not None and temp >= HOT_C:
        out.append(_("too hot (%(t)s)") % {"t": temp_text(temp)})
    offset = h.get("clock_offset_ms")
    if offset is not None and abs(offset) > CLOCK_OFF_MS:
        out.append(_("clock is off by %(s)s s") % {"s": fmt_number(abs(offset) / 1000, 1)})
    out += [problem_text(code, _) for code in sorted(h.get("problems") or {})]
    return out


def node_state(state: str, health: dict[str, Any] | None, _: Gettext) -> tuple[str, list[str]]:
    """(online | offline | degraded | unknown, reasons): degraded = online with something wrong."""
    if state != "online":
        return (state if state in NODE_STATES else "unknown"), []
    reasons = degraded_reasons(health, _)
    return ("degraded" if reasons else "online"), reasons


def bytes_text(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= size:
            return f"{fmt_number(n / size, 1)} {unit}"
    return f"{int(n)} B"


def temp_text(t: float | None) -> str:
    return "—" if t is None else f"{fmt_number(t, 1)} °C"


def yes_no(value: bool | None, yes: str, no: str) -> str:
    return "—" if value is None else (yes if value else no)


@dataclass(frozen=True)
class NodeFacts:
    """What the list, the map and the live stream show of one node (all display strings)."""

    id: str
    kind: str
    state: str
    state_text: str
    tone: str
    reasons: list[str]
    villages: str
    location: str
    last_seen: str
    relay: str
    volume: str
    audio: str
    disk: str
    temp: str
    clock: str
    version: str
    signal: str
    lat: float | None
    lon: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def node_facts(n: Any, names: dict[str, str], _: Gettext) -> NodeFacts:
    """``n``: a :class:`~hq_server.storage.tables.Node`; ``names``: zone slug → display name."""
    h: dict[str, Any] = n.last_health or {}
    state, reasons = node_state(n.state, h, _)
    offset = h.get("clock_offset_ms")
    signal = h.get("signal_dbm", h.get("signal"))
    return NodeFacts(
        id=n.id, kind=n.kind, state=state, state_text=_(NODE_STATES[state]), tone=NODE_TONE[state], reasons=reasons,
        villages=", ".join(names.get(z, z) for z in n.zones or []) or _("(no village)"),
        location=n.location or "", last_seen=fmt_datetime(n.last_seen_at) if n.last_seen_at else _("never"),
        relay=yes_no(h.get("relay_on"), _("on"), _("off")),
        volume="—" if h.get("volume") is None else f"{h['volume']}%",
        audio=yes_no(h.get("audio_device_ok"), _("works"), _("not working")),
        disk=bytes_text(h.get("disk_free_bytes")), temp=temp_text(h.get("cpu_temp_c")),
        clock="—" if offset is None else f"{fmt_number(offset, 0)} ms",
        version=n.agent_version or "—", signal="—" if signal is None else f"{signal} dBm" if isinstance(
            signal, int | float) else str(signal),
        lat=n.lat, lon=n.lon)


def since_text(at: datetime | None, _: Gettext) -> str:
    return _("since %(t)s") % {"t": fmt_datetime(at)} if at else ""
