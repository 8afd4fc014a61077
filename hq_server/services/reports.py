"""The figures a commune reports upward, computed from HQ's records (pure; the routes load the rows).

* **Broadcasts** per day, village (zone), loudspeaker (node) or bulletin: how many bulletins, plays and
  seconds played, failures. A one-off bulletin's play is its delivery's ``played``; a recurring series'
  plays are its played occurrences, each on its own date (never the delivery, which would count the
  series once). Camera-only nodes have no loudspeaker and are left out.
* **Nodes**: availability over the period (uptime %, online/offline seconds, disconnects, last
  disconnect and reconnect) from the online/offline events, reboots, delivery failures, and the device
  condition of the last report (temperature, sound card, clock offset, problems).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hq_server.services.health_history import Interval, availability

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
FAILED = ("failed", "expired", "offline")
GROUPS = ("day", "zone", "node", "bulletin")


def _day(at: datetime) -> str:
    return at.astimezone(LOCAL).date().isoformat()


def broadcast_rows(deliveries: Iterable[tuple[Any, Any]], occurrences: Iterable[tuple[Any, Any]],
                   zones: dict[str, list[str]], cameras: set[str], group: str) -> list[dict[str, Any]]:
    """Rows of the broadcast report grouped by ``group`` (one of :data:`GROUPS`), sorted by key.

    ``deliveries``: (Delivery, Bulletin) pairs; ``occurrences``: (played Occurrence, Bulletin) pairs;
    ``zones``: node id → its zones; ``cameras``: camera-only nodes (no loudspeaker: skipped).
    """
    stats: dict[str, dict[str, float]] = defaultdict(lambda: {"bulletins": 0, "plays": 0, "seconds": 0.0,
                                                              "failures": 0})
    seen: dict[str, set[str]] = defaultdict(set)
    titles: dict[str, str] = {}

    def keys(b: Any, node: str, day: str) -> list[str]:
        titles.setdefault(b.id, b.title or "")
        return {"day": [day], "node": [node], "zone": zones.get(node) or ["(none)"], "bulletin": [b.id]}[group]

    def count_bulletin(key: str, b: Any) -> None:
        if b.id not in seen[key]:
            seen[key].add(b.id)
            stats[key]["bulletins"] += 1

    for d, b in deliveries:
        if d.node_id in cameras:
            continue
        for key in keys(b, d.node_id, _day(d.started_at or b.sent_at or b.created_at)):
            count_bulletin(key, b)
            if d.state == "played" and b.recurrence:
                continue  # a recurring bulletin's plays are its occurrences, counted below
            if d.state == "played":
                stats[key]["plays"] += 1
                stats[key]["seconds"] += d.duration_s or 0
            elif d.state in FAILED:
                stats[key]["failures"] += 1
    for o, b in occurrences:
        if o.node_id in cameras:
            continue
        for key in keys(b, o.node_id, o.occurrence):
            count_bulletin(key, b)
            stats[key]["plays"] += 1
            stats[key]["seconds"] += o.duration_s or 0
    out = []
    for key, v in sorted(stats.items()):
        row: dict[str, Any] = {group: key}
        if group == "bulletin":
            row["title"] = titles.get(key, "")
        row.update({"bulletins": int(v["bulletins"]), "plays": int(v["plays"]), "seconds_played": round(v["seconds"]),
                    "minutes_played": round(v["seconds"] / 60, 2), "failures": int(v["failures"])})
        out.append(row)
    return out


def node_rows(nodes: Sequence[Any], events: dict[str, list[Any]], spans: dict[str, list[Interval]],
              failures: dict[str, int], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One row per node: availability over [start, end], events, device condition (last report)."""
    out = []
    for n in nodes:
        evs = events.get(n.id, [])
        a = availability(spans.get(n.id) or [Interval(start, end, None)])
        health = n.last_health or {}
        out.append({
            "node": n.id, "zones": " ".join(n.zones or []), "state": n.state,
            "state_since": n.state_since.isoformat(), "uptime_percent": a.uptime_percent,
            "online_s": round(a.online_s), "offline_s": round(a.offline_s),
            "disconnects": sum(e.event == "offline" for e in evs), "reconnects": sum(e.event == "online" for e in evs),
            "reboots": sum(e.event == "reboot" for e in evs),
            "last_disconnect": next((e.at.isoformat() for e in reversed(evs) if e.event == "offline"), None),
            "last_reconnect": next((e.at.isoformat() for e in reversed(evs) if e.event == "online"), None),
            "cpu_temp_c": health.get("cpu_temp_c"), "audio_device_ok": health.get("audio_device_ok"),
            "clock_offset_ms": health.get("clock_offset_ms"), "problems": len(health.get("problems") or {}),
            "delivery_failures": failures.get(n.id, 0), "agent_version": n.agent_version,
        })
    return out
