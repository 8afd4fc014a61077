"""Alerts for problems a node reports about itself in its health report (``problems``).

Today one needs the commune's attention: ``duplicate_node_id`` — two devices configured with the same
node id take the broker session from each other, HQ sees one ``online`` node and half the bulletins
go to a device nobody knows about. An alert is raised once per node while the problem lasts (again
after the node stopped reporting it and it comes back). Decisions are pure (:func:`alerts_due`).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services.alerts import Alerter
from loaxa_contract.models import NodeHealth

logger = logging.getLogger(__name__)

ALERTED = {
    "duplicate_node_id": ("critical", "Hai thiết bị đang dùng cùng mã loa {node}: máy chủ MQTT chuyển kết nối qua lại "
                                      "giữa chúng, bản tin có thể đến thiết bị không ai biết. Hãy đặt mã riêng cho "
                                      "từng thiết bị."),
}


def alerts_due(open_codes: set[str], problems: dict[str, str] | None) -> tuple[set[str], set[str]]:
    """(codes to alert now, codes no longer reported) for one node."""
    reported = {code for code in (problems or {}) if code in ALERTED}
    return reported - open_codes, open_codes - reported


class NodeProblemAlerts:
    """Orchestrator health hook."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], alerter: Alerter) -> None:
        self.sessions = sessions
        self.alerter = alerter
        self._open: dict[str, set[str]] = {}

    async def on_health(self, health: NodeHealth) -> None:
        if health.historical:  # sent late from the node's outbox: not the node's state now
            return
        current = self._open.setdefault(health.node, set())
        new, gone = alerts_due(current, health.problems)
        current -= gone
        if not new:
            return
        async with self.sessions() as session:
            for code in sorted(new):
                severity, text = ALERTED[code]
                await self.alerter.raise_alert(session, code, health.node, text.format(node=health.node), severity,
                                               detail=(health.problems or {}).get(code) or None,
                                               context={"node": {"id": health.node}})
            await session.commit()
        current |= new
