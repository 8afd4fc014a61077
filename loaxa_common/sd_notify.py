"""systemd's notify protocol (``Type=notify`` + ``WatchdogSec=``), without a dependency.

The protocol is one datagram per message on the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path,
or ``@name`` for the abstract namespace), holding ``KEY=VALUE`` lines: ``READY=1`` once the service
works (systemd holds dependent units until then), ``WATCHDOG=1`` at least every ``$WATCHDOG_USEC``
(else systemd kills and restarts the service: a hung event loop is a crash), ``STOPPING=1`` when a
stop begins, ``STATUS=…`` for ``systemctl status``.

Why from the event loop: the watchdog task runs on the same loop as the MQTT link and the player, so
if that loop stalls (a blocking call, a deadlock) the pings stop and systemd restarts the service. A
ping from a separate thread would keep a dead agent "alive".

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op. The variables are removed from the
environment once read, so children (Mosquitto, aplay, ffmpeg) never talk to systemd in our name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import MutableMapping

logger = logging.getLogger(__name__)

_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends notify messages to systemd; inert when the service manager did not ask for them."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self.sent: deque[str] = deque(maxlen=64)
        """The last messages delivered (for logs and tests)."""

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        with contextlib.suppress(ValueError):
            # WATCHDOG_PID names the process meant to ping; a child that inherited it must not
            if not pid or int(pid) == os.getpid():
                usec = int(env.get("WATCHDOG_USEC", "")) or None
        if unset:
            for var in _VARS:
                env.pop(var, None)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the watchdog timeout, as systemd recommends; None without a watchdog."""
        return None if not self.watchdog_usec else self.watchdog_usec / 2e6

    def notify(self, *lines: str) -> bool:
        """Send one message; False (logged once per failure) if it could not be delivered."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        data = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, target)
        except OSError as err:
            logger.warning("sd_notify %s to %s failed: %s", lines[0] if lines else "", self.address, err)
            return False
        self.sent.extend(lines)
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    async def watchdog_loop(self) -> None:
        """Ping the watchdog from the running loop until cancelled (returns at once without a watchdog)."""
        interval = self.watchdog_interval_s
        if not self.enabled or interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def start_watchdog(self) -> asyncio.Task[None] | None:
        if not self.enabled or self.watchdog_interval_s is None:
            return None
        return asyncio.get_running_loop().create_task(self.watchdog_loop(), name="sd-watchdog")
