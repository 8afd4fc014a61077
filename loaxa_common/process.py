"""Process plumbing shared by the command-line entry points: logging set-up and graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool, quiet_level: int = logging.INFO) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else quiet_level, format=LOG_FORMAT)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM (systemd stop) or SIGINT (Ctrl-C), so services shut down in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
