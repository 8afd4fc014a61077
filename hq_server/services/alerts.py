"""Alerts: kept in the alert log and POSTed as JSON to a webhook (police post, chat bridge).

The webhook call runs in a background task with a timeout, so a slow receiver never stalls ack
processing; failures that may pass (network, timeout, 429, 5xx) are retried with bounded exponential
backoff; the alert row records delivered / attempts / last error after every attempt.
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
                 commune: str, attempts: int = 5, backoff_s: float = 1.0, backoff_max_s: float = 60.0) -> None:
        self.sessions = sessions
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
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
        """POST with bounded retries: network errors, timeouts, 429 and 5xx are retried after 1, 2, 4 … s
        (capped), other 4xx are final. Each attempt's outcome is written to the alert row."""
        await asyncio.sleep(0)  # let the caller commit the alert row first
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            error, retry = await self._attempt(payload)
            final = error is None or not retry or attempt == self.attempts
            if error:
                logger.warning("alert %s webhook attempt %d/%d: %s%s", alert_id, attempt, self.attempts, error,
                               "" if final else f"; retrying in {delay:.1f}s")
            await self._record(alert_id, error, attempt, final)
            if final:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    async def _attempt(self, payload: dict[str, object]) -> tuple[str | None, bool]:
        """(error or None, worth retrying)."""
        try:
            if self._http is None:
                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            assert self.webhook_url is not None
            async with self._http.post(self.webhook_url, json=payload) as resp:
                if resp.status >= 300:
                    return f"webhook answered HTTP {resp.status}", resp.status == 429 or resp.status >= 500
        except (aiohttp.ClientError, TimeoutError) as err:
            return f"webhook failed: {err.__class__.__name__}: {err}", True
        return None, False

    async def _record(self, alert_id: int, error: str | None, attempt: int, final: bool) -> None:
        for _ in range(50):  # the row is committed by the caller; wait for it briefly
            async with self.sessions() as s:
                alert = await s.get(Alert, alert_id)
                if alert is not None:
                    alert.delivered = error is None
                    alert.delivery_attempts = attempt
                    alert.delivery_error = None if error is None else (error if final else f"retrying: {error}")[:500]
                    await s.commit()
                    return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
