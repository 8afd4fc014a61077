"""Server-sent events that follow HQ's database: send a snapshot whenever it changes.

Why polling the database: every change (a node's state, a camera's status, a new alert) is written by
whichever task makes it, so a stream reads the truth from one place instead of every writer having to
notify. A commune has a handful of browsers open; one small query per second per open page is cheap.
An event goes out only when the snapshot differs from the last one sent; a comment line every 15 s keeps
proxies from closing an idle stream; the stream ends after an hour (the browser's EventSource
reconnects by itself) and at HQ shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_STREAM_S = 3600.0
STOP = web.AppKey("sse_stop", asyncio.Event)


def install(app: web.Application) -> None:
    """Open streams end at shutdown instead of holding HQ's stop for the shutdown timeout."""
    app[STOP] = asyncio.Event()

    async def _stop(app: web.Application) -> None:
        app[STOP].set()

    app.on_shutdown.append(_stop)


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


async def follow(request: web.Request, name: str, load: Callable[[], Awaitable[Any]], poll_s: float = 1.0,
                 max_s: float = MAX_STREAM_S) -> web.StreamResponse:
    """Answer ``request`` with a stream of ``name`` events: ``await load()`` now and whenever it changes.

    ``load`` is called once before the response starts, so its errors (404, 403) are answered normally.
    """
    current = await load()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    stop = request.app.get(STOP) or asyncio.Event()
    loop = asyncio.get_running_loop()
    started = last_write = loop.time()
    last: Any = object()
    try:
        while not stop.is_set() and loop.time() - started < max_s:
            if current != last:
                await resp.write(event(name, current))
                last, last_write = current, loop.time()
            elif loop.time() - last_write > KEEPALIVE_S:
                await resp.write(b": keep-alive\n\n")
                last_write = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
            if not stop.is_set():
                current = await load()
    except (ConnectionResetError, asyncio.CancelledError):
        logger.debug("%s stream closed by the client", name)
        raise
    return resp
