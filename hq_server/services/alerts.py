"""Alerts: kept in the alert log and POSTed as JSON to a webhook (police post, chat bridge).

The webhook call runs in a background task with a timeout, so a slow receiver never stalls ack
processing; failures that may pass (network, timeout, 429, 5xx) are retried with bounded exponential
backoff; the alert row records delivered / attempts / pending / last try / last error after every attempt.
Retries are durable: a sweeper re-reads pending alerts from the database and resumes them once the
backoff since the last try has passed, so a restart of HQ does not drop them (delivery is at least once:
the payload carries the alert ``id`` for receivers that deduplicate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from hq_server.storage.tables import Alert, now

logger = logging.getLogger(__name__)

_PENDING = "loaxa_alerts_to_post"
"""Key in a session's ``info``: alerts raised in it, posted after its commit."""


class Alerter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], webhook_url: str | None, timeout_s: float,
                 commune: str, attempts: int = 5, backoff_s: float = 1.0, backoff_max_s: float = 60.0,
                 sweep_s: float = 5.0) -> None:
        self.sessions = sessions
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sweep_s = sweep_s
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self.commune = commune
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[int] = set()  # alert ids with a delivery task in this process
        self._sweeper: asyncio.Task[None] | None = None
        self.may_sweep: Callable[[], bool] = lambda: True
        """Several HQ processes: only the leader retries from the database (two would post an alert twice)."""
        self._http: aiohttp.ClientSession | None = None

    def backoff(self, attempts_done: int) -> float:
        """Wait after ``attempts_done`` tries before the next: backoff_s, doubling, capped."""
        return min(self.backoff_s * 2 ** max(0, attempts_done - 1), self.backoff_max_s)

    async def raise_alert(self, session: AsyncSession, kind: str, subject: str, message: str,
                          severity: str = "warning", *, detail: str | None = None,
                          context: dict[str, Any] | None = None) -> Alert:
        """Add the alert to ``session`` (committed by the caller); it is POSTed only once that commit succeeds.

        ``message`` is for people (plain Vietnamese); ``detail`` is the technical line; ``context`` names what
        the alert is about (e.g. ``{"camera": {"id", "name", "node", "zone", "location"}}``) for receivers.
        """
        alert = Alert(kind=kind, subject=subject, message=message[:1000], severity=severity,
                      detail=detail[:1000] if detail else None, context=context,
                      delivery_pending=bool(self.webhook_url))
        session.add(alert)
        await session.flush()
        logger.warning("alert %s %s: %s%s", kind, subject, message, f" [{detail}]" if detail else "")
        if self.webhook_url:
            self._after_commit(session, alert.id, self._payload(alert))
        return alert

    def _after_commit(self, session: AsyncSession, alert_id: int, payload: dict[str, object]) -> None:
        """Post when ``session`` commits, forget when it rolls back: a rolled-back alert never reaches the
        webhook (its id may be reused by the database)."""
        sync = session.sync_session
        pending: list[tuple[int, dict[str, object]]] | None = sync.info.get(_PENDING)
        if pending is None:
            pending = sync.info[_PENDING] = []

            def committed(_s: Session) -> None:
                for item in sync.info.pop(_PENDING, []):
                    self._spawn(*item, 0)

            def rolled_back(_s: Session) -> None:
                dropped = sync.info.pop(_PENDING, [])
                if dropped:
                    logger.info("alert(s) %s rolled back: not sent", [i for i, _ in dropped])

            event.listen(sync, "after_commit", committed, once=True)
            event.listen(sync, "after_rollback", rolled_back, once=True)
        pending.append((alert_id, payload))

    def _payload(self, alert: Alert) -> dict[str, object]:
        out: dict[str, object] = {
            "id": alert.id, "at": alert.at.isoformat(), "commune": self.commune, "kind": alert.kind,
            "severity": alert.severity, "subject": alert.subject, "message": alert.message}
        if alert.detail:
            out["detail"] = alert.detail
        if alert.context:
            out.update(alert.context)
        return out

    def _spawn(self, alert_id: int, payload: dict[str, object], attempts_done: int) -> None:
        self._inflight.add(alert_id)
        task = asyncio.get_running_loop().create_task(self._post(alert_id, payload, attempts_done),
                                                      name=f"webhook:{alert_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._inflight.discard(alert_id)

        task.add_done_callback(done)

    def start(self) -> None:
        """Start the sweeper: retries what the database says is still due (e.g. after a restart)."""
        if self.webhook_url and self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="webhook-sweeper")

    async def _sweep_loop(self) -> None:
        while True:
            try:
                if self.may_sweep():
                    await self.sweep()
            except Exception:  # a database hiccup must not end the sweeper
                logger.exception("webhook sweep failed")
            await asyncio.sleep(self.sweep_s)

    async def sweep(self) -> int:
        """Start a delivery task for every pending, undelivered alert whose backoff since its last try has
        passed and that has no task in this process; returns how many were started."""
        started = 0
        t = now()
        async with self.sessions() as s:
            rows = (await s.scalars(select(Alert).where(Alert.delivery_pending.is_(True),
                                                        Alert.delivered.is_(False)).order_by(Alert.id))).all()
            for alert in rows:
                if alert.id in self._inflight:
                    continue
                if alert.delivery_attempts >= self.attempts:
                    alert.delivery_pending = False  # tries used up (e.g. webhook_attempts lowered)
                    continue
                last = alert.last_attempt_at
                if last is not None and (t - last).total_seconds() < self.backoff(alert.delivery_attempts):
                    continue
                logger.info("alert %s: webhook retry from the database (after %d tries)", alert.id,
                            alert.delivery_attempts)
                self._spawn(alert.id, self._payload(alert), alert.delivery_attempts)
                started += 1
            await s.commit()
        return started

    async def _post(self, alert_id: int, payload: dict[str, object], attempts_done: int = 0) -> None:
        """POST with bounded retries: network errors, timeouts, 429 and 5xx are retried after 1, 2, 4 … s
        (capped), other 4xx are final. Each attempt's outcome is written to the alert row, so a restart
        resumes where this left off (see :meth:`sweep`)."""
        for attempt in range(attempts_done + 1, self.attempts + 1):
            error, retry = await self._attempt(payload)
            final = error is None or not retry or attempt == self.attempts
            delay = self.backoff(attempt)
            if error:
                logger.warning("alert %s webhook attempt %d/%d: %s%s", alert_id, attempt, self.attempts, error,
                               "" if final else f"; retrying in {delay:.1f}s")
            await self._record(alert_id, error, attempt, final)
            if final:
                return
            await asyncio.sleep(delay)

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
                    alert.delivery_pending = not final
                    alert.last_attempt_at = now()
                    alert.delivery_error = None if error is None else (error if final else f"retrying: {error}")[:500]
                    await s.commit()
                    return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Stop: delivery tasks are cancelled (the rows stay pending and the sweeper of the next start
        resumes them; a try cut off mid-request may be repeated)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
