"""Timed bulletins in APScheduler 3.x with a persistent SQLite job store: a reboot loses nothing.

Registration only — what plays is decided by :mod:`edge_agent.programme.queue`. Each timed bulletin is one job
``b:{bulletin_id}`` whose function is the module-level :func:`fire`, registered by its stable import
path :data:`JOB_FUNC` (APScheduler stores the reference by path; a closure would not survive a restart,
and a moved module would orphan every stored job). :func:`fire` finds the running agent's
:class:`SchedulerHost` by node id in a process-wide registry.

Decisions, deliberately not the 3.x defaults:

* ``misfire_grace_time`` is configured (default 300 s, 3.x's default is 1 s): an occurrence missed by
  less than that (the node was rebooting) plays late; beyond it APScheduler reports the job missed and
  the node acks ``expired`` (reason ``missed_schedule``).
* ``coalesce=True``: a recurring bulletin missed several times during an outage plays once.
* SQLite in WAL mode with ``synchronous=NORMAL``; a store that cannot be opened or fails
  ``PRAGMA quick_check`` is moved aside and a fresh one started (jobs are then rebuilt from the
  bulletin store, and HQ reconciles the rest).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time as _time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobExecutionEvent, JobSubmissionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import create_engine, event

from loaxa_contract.models import Recurrence

logger = logging.getLogger(__name__)


class SchedulerHost(Protocol):
    async def on_due(self, bulletin_id: str, start_at: str | None, occurrence: str) -> None: ...

    async def on_missed(self, bulletin_id: str, scheduled: datetime) -> None: ...


_HOSTS: dict[str, BulletinScheduler] = {}

JOB_FUNC = "edge_agent.scheduler:fire"
"""What stored jobs call: a compatibility module at the path used since the first release (on-disk contract)."""


async def fire(node: str, bulletin_id: str, start_at: str | None = None) -> None:
    """The job function of every timed bulletin (module level: importable after a restart)."""
    host = _HOSTS.get(node)
    if host is None:
        logger.error("job for %s fired but node %s is not running here", bulletin_id, node)
        return
    await host.on_due(bulletin_id, start_at, datetime.now().astimezone().isoformat())


def job_id(bulletin_id: str) -> str:
    return f"b:{bulletin_id}"


def open_store_engine(path: Path):
    """SQLAlchemy engine on ``path`` in WAL mode; a corrupt file is moved aside first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            with sqlite3.connect(path) as con:
                ok = con.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(ok)
        except sqlite3.DatabaseError as err:
            aside = path.with_name(f"{path.name}.corrupt-{int(_time.time())}")
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            logger.error("job store %s is corrupt (%s); moved to %s, starting fresh", path, err, aside.name)
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_con, _record) -> None:
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def recurrence_trigger(rec: Recurrence, tz: str):
    start = rec.start_date or None
    end = f"{rec.end_date} 23:59:59" if rec.end_date else None
    if rec.kind == "once":
        zone = ZoneInfo(tz)
        if rec.start_date:
            return DateTrigger(datetime.combine(date.fromisoformat(rec.start_date), rec.at, zone))
        now = datetime.now(zone)
        at = datetime.combine(now.date(), rec.at, zone)
        return DateTrigger(at if at > now else at + timedelta(days=1))  # the next such time of day
    common = {"hour": rec.at.hour, "minute": rec.at.minute, "second": rec.at.second, "timezone": tz,
              "start_date": start, "end_date": end}
    if rec.kind == "daily":
        return CronTrigger(**common)
    if rec.kind == "weekly":
        return CronTrigger(day_of_week=",".join(str(d) for d in sorted(set(rec.weekdays))), **common)
    return CronTrigger(day=",".join(str(d) for d in sorted(set(rec.month_days))), **common)


class BulletinScheduler:
    def __init__(self, node_id: str, store_path: Path, host: SchedulerHost, *, timezone: str,
                 misfire_grace_s: int, lead_s: float) -> None:
        self.node_id = node_id
        self.host = host
        self.lead_s = lead_s
        self.timezone = timezone
        self.engine = open_store_engine(store_path)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename="loaxa_jobs")},
            job_defaults={"misfire_grace_time": misfire_grace_s, "coalesce": True, "max_instances": 1},
            timezone=timezone,
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduled: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Open the job store *paused*: the player's restore decides first what fell due while the node
        was down (one owner), then :meth:`resume` lets the remaining jobs fire."""
        _HOSTS[self.node_id] = self
        self.scheduler.start(paused=True)

    def resume(self) -> None:
        if self.scheduler.running:
            self.scheduler.resume()

    async def on_due(self, bulletin_id: str, start_at: str | None, fired_at: str) -> None:
        """Called by :func:`fire`: hand the job to the player with the occurrence's *scheduled* instant
        (a job fired late after a reboot still belongs to its own occurrence)."""
        scheduled = self._scheduled.pop(bulletin_id, None)
        await self.host.on_due(bulletin_id, start_at, scheduled.isoformat() if scheduled else fired_at)

    def fell_due(self, bulletin_id: str, now: datetime) -> bool:
        """True if the bulletin's job should already have fired (the node was down when it was due)."""
        job = self.scheduler.get_job(job_id(bulletin_id))
        return job is not None and job.next_run_time is not None and job.next_run_time <= now

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _HOSTS.pop(self.node_id, None)
        self.engine.dispose()

    def has(self, bulletin_id: str) -> bool:
        return self.scheduler.get_job(job_id(bulletin_id)) is not None

    def add_play_at(self, bulletin_id: str, play_at: datetime) -> None:
        run = max(play_at - timedelta(seconds=self.lead_s), datetime.now(play_at.tzinfo))
        self.scheduler.add_job(JOB_FUNC, DateTrigger(run), id=job_id(bulletin_id), replace_existing=True,
                               kwargs={"node": self.node_id, "bulletin_id": bulletin_id,
                                       "start_at": play_at.isoformat()})

    def add_recurrence(self, bulletin_id: str, rec: Recurrence) -> datetime | None:
        job = self.scheduler.add_job(JOB_FUNC, recurrence_trigger(rec, self.timezone), id=job_id(bulletin_id),
                                     replace_existing=True,
                                     kwargs={"node": self.node_id, "bulletin_id": bulletin_id})
        return job.next_run_time

    def remove(self, bulletin_id: str) -> bool:
        try:
            self.scheduler.remove_job(job_id(bulletin_id))
        except Exception:  # JobLookupError
            return False
        return True

    def next_run(self, bulletin_id: str) -> datetime | None:
        job = self.scheduler.get_job(job_id(bulletin_id))
        return job.next_run_time if job else None

    def job_count(self) -> int:
        return len(self.scheduler.get_jobs())

    def _on_submitted(self, ev: JobSubmissionEvent) -> None:
        if ev.job_id.startswith("b:") and ev.scheduled_run_times:
            self._scheduled[ev.job_id[2:]] = ev.scheduled_run_times[-1]  # coalesced: the one that runs

    def _on_missed(self, ev: JobExecutionEvent) -> None:
        if not ev.job_id.startswith("b:"):
            return
        bid = ev.job_id[2:]
        logger.warning("bulletin %s missed its run at %s beyond the grace period", bid, ev.scheduled_run_time)
        task = asyncio.get_running_loop().create_task(self.host.on_missed(bid, ev.scheduled_run_time),
                                                      name=f"missed:{bid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
