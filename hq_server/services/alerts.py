"""Alerts: kept in the alert log and POSTed as JSON to a webhook (police post, chat bridge).

The webhook call runs in a background task with a timeout, so a slow receiver never stalls ack
processing; whether it was delivered is written back to the alert row.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.storage.tables import Alert

logger = logging.getLogger(__name__)


class Alerter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], webhook_url: str | None, timeout_s: float,
                 commune: str) -> None:
        self.sessions = sessions
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self.commune = commune
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def raise_alert(self, session: AsyncSession, kind: str, subject: str, message: str,
                          severity: str = "warning") -> Alert:
        """Add the alert to ``session`` (committed by the caller) and post it after the commit."""
        alert = Alert(kind=kind, subject=subject, message=message, severity=severity)
        session.add(alert)
        await session.flush()
        logger.warning("alert %s %s: %s", kind, subject, message)
        if self.webhook_url:
            payload = {"id": alert.id, "at": alert.at.isoformat(), "commune": self.commune, "kind": kind,
                       "severity": severity, "subject": subject, "message": message}
            task = asyncio.get_running_loop().create_task(self._post(alert.id, payload), name=f"webhook:{alert.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return alert

    async def _post(self, alert_id: int, payload: dict[str, object]) -> None:
        await asyncio.sleep(0)  # let the caller commit the alert row first
        error: str | None = None
        try:
            if self._http is None:
                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            assert self.webhook_url is not None
            async with self._http.post(self.webhook_url, json=payload) as resp:
                if resp.status >= 300:
                    error = f"webhook answered HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as err:
            error = f"webhook failed: {err.__class__.__name__}: {err}"
        if error:
            logger.warning("alert %s not delivered: %s", alert_id, error)
        for _ in range(50):  # the row is committed by the caller; wait for it briefly
            async with self.sessions() as s:
                alert = await s.get(Alert, alert_id)
                if alert is not None:
                    alert.delivered = error is None
                    alert.delivery_error = error
                    await s.commit()
                    return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
