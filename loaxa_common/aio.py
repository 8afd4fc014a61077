"""asyncio helpers for waits and stops that must never swallow a cancellation.

Why not ``asyncio.wait_for(event.wait(), timeout)``? On Python 3.11, when the awaited event is set
in the same loop iteration as the waiting task is cancelled, ``wait_for`` returns the result and
*drops the cancellation*: a worker loop built on it keeps running after ``task.cancel()``, and
whoever awaits the task to stop it waits forever, with the event loop idle in ``select``. That is
how an agent's stop could hang once in a few hundred under load. ``asyncio.timeout`` counts
cancellations (``Task.uncancel``) and propagates an outside cancel; these helpers are built on it.

Likewise ``task.cancel(); with suppress(CancelledError): await task`` also swallows a cancellation
of the *awaiting* task; :func:`cancel_and_wait` waits with ``asyncio.wait`` instead, which never
raises the child's outcome and lets the caller's own cancellation through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

logger = logging.getLogger(__name__)


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set (True) or ``timeout`` seconds pass (False); cancellable at any time."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def cancel_and_wait(task: asyncio.Task[object] | None, *, timeout: float = 10.0) -> BaseException | None:
    """Cancel ``task`` and wait until it has finished; return the error it ended with, if any.

    A task that ignores the cancellation for ``timeout`` seconds is reported (returned as an error)
    instead of hanging the caller: a stop must finish.
    """
    if task is None:
        return None
    if not task.done():
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            return TimeoutError(f"task {task.get_name()} did not stop within {timeout}s of being cancelled")
    if task.cancelled():
        return None
    return task.exception()


async def cancel_all(tasks: Iterable[asyncio.Task[object] | None], *, timeout: float = 10.0) -> list[BaseException]:
    """Cancel several tasks at once and wait for all of them; the errors they ended with."""
    live = [t for t in tasks if t is not None]
    results = await asyncio.gather(*(cancel_and_wait(t, timeout=timeout) for t in live))
    return [r for r in results if r is not None]


Step = Callable[[], Awaitable[object] | object]


async def call_step(step: Step) -> None:
    """Call a start or stop step that may be a plain function or a coroutine function."""
    result = step()
    if asyncio.iscoroutine(result):
        await result
