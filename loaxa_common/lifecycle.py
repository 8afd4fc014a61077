"""Explicit lifecycle and supervised workers, in the style of aiohttp's runner and Frigate's watchdog.

:class:`Lifecycle`: parts are started in order and each registers how it stops; ``close()`` stops
them in reverse order, runs *every* stop step even when an earlier one raised, and returns the
errors instead of losing all but the first. If a start step fails, what was already started is
stopped before the error propagates, so a half-started process leaves nothing running.

:class:`Supervised`: a long-running worker task that is restarted when it crashes, with the crash
reported (a callback, a count), a bounded restart rate (at most ``max_restarts`` in ``window_s``,
then a cool-down) and no restart after a clean exit or a cancellation. A worker that silently dies
would leave a loudspeaker node that accepts bulletins and never plays them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loaxa_common.aio import Step, call_step, cancel_and_wait

logger = logging.getLogger(__name__)


class StopErrors(Exception):
    """Raised after a full stop when one or more stop steps failed; ``errors`` lists them in order."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        super().__init__("; ".join(f"{name}: {type(err).__name__}: {err}" for name, err in errors))
        self.errors = errors


class Lifecycle:
    """Start in order, stop in reverse; stop errors are gathered, never short-circuit the rest."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stops: list[tuple[str, Step]] = []

    async def enter(self, name: str, start: Step | None, stop: Step | None) -> None:
        """Run ``start`` (if any); once it succeeded, ``stop`` will run at :meth:`close`."""
        if start is not None:
            try:
                await call_step(start)
            except BaseException:
                logger.error("%s: starting %s failed; stopping what was started", self.name, name)
                errors = await self.close()
                for step, err in errors:
                    logger.error("%s: while unwinding, stopping %s failed: %s", self.name, step, err)
                raise
        if stop is not None:
            self._stops.append((name, stop))

    async def close(self) -> list[tuple[str, BaseException]]:
        """Stop everything started, newest first; return ``(step, error)`` for each step that failed."""
        errors: list[tuple[str, BaseException]] = []
        while self._stops:
            name, stop = self._stops.pop()
            try:
                await call_step(stop)
            except Exception as err:  # every step runs; the errors are reported together
                logger.exception("%s: stopping %s failed", self.name, name)
                errors.append((name, err))
        return errors


@dataclass
class Supervised:
    """A worker coroutine restarted after a crash; see the module docstring."""

    name: str
    factory: Callable[[], Awaitable[None]]
    on_crash: Callable[[str, BaseException, int], None] = lambda name, err, n: None
    """Called with (name, error, restarts so far) after each crash, before the restart."""
    max_restarts: int = 5
    window_s: float = 60.0
    cooldown_s: float = 30.0
    restarts: int = 0
    _times: collections.deque[float] = field(default_factory=collections.deque, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._guard(), name=self.name)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float = 10.0) -> None:
        err = await cancel_and_wait(self._task, timeout=timeout)
        self._task = None
        if err is not None:
            raise err

    def _delay(self, now: float) -> float:
        """Seconds to wait before the next restart: none unless the restart rate is exceeded."""
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        self._times.append(now)
        return self.cooldown_s if len(self._times) > self.max_restarts else 0.0

    async def _guard(self) -> None:
        while True:
            try:
                await self.factory()
                return  # a clean exit is not a crash
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.restarts += 1
                logger.exception("worker %s crashed (restart %d)", self.name, self.restarts)
                try:
                    self.on_crash(self.name, err, self.restarts)
                except Exception:
                    logger.exception("worker %s: crash report failed", self.name)
                delay = self._delay(time.monotonic())
                if delay:
                    logger.error("worker %s crashed %d times within %.0fs; next restart in %.0fs", self.name,
                                 len(self._times), self.window_s, delay)
                await asyncio.sleep(delay)
