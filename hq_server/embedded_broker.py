"""HQ's embedded Mosquitto as a supervised child: one HQ per data directory, orphans reclaimed, restarts.

Why supervised: HQ is the only thing that starts this broker, so nothing else would notice it died —
nodes would keep reconnecting to nothing while HQ's API still listed them ``online``. The supervisor
polls the child twice a second and restarts it on the same port with the same persistence (queued
commands survive), with a backoff that doubles from 0.5 s to 30 s while restarts keep failing.

Why a lock and a pid file: ``kill -9`` of HQ leaves its broker running (it has its own session, so a
Ctrl-C reaches HQ first). The next HQ must neither attach to that orphan (it would serve an old
configuration and nobody would supervise it) nor be refused forever. HQ holds an exclusive ``flock`` on
``data_dir/hq.lock`` for its whole run: if another live HQ holds it, this one refuses to start, naming
it; if HQ gets the lock, any broker still running from ``data_dir/broker/mosquitto.pid`` belongs to a
dead HQ and is stopped (SIGTERM, then SIGKILL) before a fresh one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from pathlib import Path

from loaxa_link.mosquitto import BrokerError, Mosquitto, running_pid

logger = logging.getLogger(__name__)

POLL_S = 0.5
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0
"""A broker up this long resets the backoff."""


class DataDirLock:
    """Exclusive lock of one HQ on its data directory (released by the kernel if HQ dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BrokerError(f"Một HQ khác (pid {holder}) đang chạy với thư mục dữ liệu {self.path.parent}; "
                              f"dừng HQ đó trước (another HQ, pid {holder}, runs with this data directory)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def reclaim_orphan(data_dir: Path, timeout: float = 10.0) -> int | None:
    """Stop a broker a dead HQ left running on ``data_dir``; returns its pid, or None if there was none."""
    pid = running_pid(data_dir)
    if pid is None:
        return None
    logger.warning("a Mosquitto (pid %s) left running by an earlier HQ on %s is stopped before starting a fresh one",
                   pid, data_dir)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return pid
            time.sleep(0.05)
    raise BrokerError(f"the broker left by an earlier HQ (pid {pid}) did not stop; stop it by hand")


class EmbeddedBroker:
    """Start (with the data-dir lock and orphan check), supervise and stop HQ's Mosquitto."""

    def __init__(self, broker: Mosquitto, lock_path: Path) -> None:
        self.broker = broker
        self.lock = DataDirLock(lock_path)
        self.restarts = 0
        self.last_exit: str | None = None

    def start(self) -> None:
        """Blocking: lock the data dir, reclaim an orphan, start the broker (BrokerError with a clear reason)."""
        self.lock.acquire()
        try:
            reclaim_orphan(self.broker.data_dir)
            self.broker.start()
        except BaseException:
            self.lock.release()
            raise

    def stop(self) -> None:
        try:
            self.broker.stop()
        finally:
            self.lock.release()

    @property
    def running(self) -> bool:
        return self.broker.proc is not None and self.broker.proc.poll() is None

    async def supervise(self) -> None:
        """Restart the broker whenever it exits, with backoff; runs until cancelled."""
        delay = BACKOFF_MIN_S
        up_since = time.monotonic()
        while True:
            await asyncio.sleep(POLL_S)
            if self.running:
                if time.monotonic() - up_since >= STABLE_S:
                    delay = BACKOFF_MIN_S
                continue
            proc = self.broker.proc
            self.last_exit = f"exit code {proc.returncode}" if proc is not None else "not running"
            logger.error("embedded Mosquitto stopped (%s); restarting in %.1f s", self.last_exit, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)  # a broker that keeps dying is restarted ever more slowly
            try:
                await asyncio.to_thread(self._restart)
            except BrokerError as err:
                logger.error("embedded Mosquitto did not restart: %s", err)
                continue
            self.restarts += 1
            up_since = time.monotonic()
            logger.warning("embedded Mosquitto restarted on port %s (restart %d)", self.broker.port, self.restarts)

    def _restart(self) -> None:
        self.broker.stop()  # reap the dead child, close its pipe, drop its pid file
        reclaim_orphan(self.broker.data_dir)  # e.g. someone started one by hand on our data dir
        self.broker.start()
