"""Amplifier relay: on before audio (warm-up), off after (hold), never left on after a crash.

Backends behind one Protocol:

* ``gpioset`` — libgpiod CLI on a Raspberry Pi (``gpioset --mode=exit gpiochip0 17=1``, v1 syntax;
  the command template is configurable for libgpiod v2),
* ``sysfs`` — ``/sys/class/gpio`` on older kernels,
* ``simulated`` — records every transition with its time (tests, demo, doctor), optionally to a
  JSON-lines file so a test can read the timeline of an agent running as another process.

:class:`Amplifier` turns holders into relay state: the relay is on while anything holds it (a
programme window, a playing bulletin), switches on ``warmup_s`` before the first audio, and goes off
``hold_s`` after the last holder lets go. The composition root switches it off at start-up and at
shutdown, so a crash cannot leave a village amplifier humming all night.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loaxa_contract.models import utcnow

logger = logging.getLogger(__name__)


SWITCH_MARGIN_S = 0.25
"""Time allowed for switching the relay on (a gpioset subprocess from a worker thread, on a busy Pi)
ahead of the warm-up."""


class RelayError(RuntimeError):
    pass


class RelayBackend(Protocol):
    name: str

    def set(self, on: bool) -> None: ...

    def check(self) -> tuple[bool, str]: ...


@dataclass
class SimulatedRelay:
    """Records ``(utc time, on)`` for every transition; the file, if given, gets one JSON line each."""

    log_path: Path | None = None
    transitions: list[tuple[float, bool]] = field(default_factory=list)
    name: str = "simulated"

    def set(self, on: bool) -> None:
        now = utcnow()
        self.transitions.append((now.timestamp(), on))
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"t": now.isoformat(), "on": on}) + "\n")

    def check(self) -> tuple[bool, str]:
        return True, "simulated relay" + (f" (log {self.log_path})" if self.log_path else "")


@dataclass
class GpiosetRelay:
    chip: str = "gpiochip0"
    line: int = 17
    active_low: bool = False
    command: tuple[str, ...] = ("gpioset", "--mode=exit", "{chip}", "{line}={value}")
    name: str = "gpioset"

    def set(self, on: bool) -> None:
        value = int(on) ^ int(self.active_low)
        argv = [a.format(chip=self.chip, line=self.line, value=value) for a in self.command]
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=5)
        except (OSError, subprocess.SubprocessError) as err:
            raise RelayError(f"{' '.join(argv)} failed: {err}") from err

    def check(self) -> tuple[bool, str]:
        try:
            out = subprocess.run(["gpioinfo", self.chip], capture_output=True, timeout=5, check=False)
        except OSError as err:
            return False, f"gpioinfo not available (apt-get install gpiod): {err}"
        if out.returncode != 0:
            return False, f"gpioinfo {self.chip}: {out.stderr.decode(errors='replace').strip()}"
        return True, f"{self.chip} line {self.line}"


@dataclass
class SysfsRelay:
    line: int = 17
    active_low: bool = False
    root: Path = Path("/sys/class/gpio")
    name: str = "sysfs"

    def _pin(self) -> Path:
        pin = self.root / f"gpio{self.line}"
        if not pin.exists():
            (self.root / "export").write_text(str(self.line))
            for _ in range(50):  # udev needs a moment to set permissions
                if (pin / "direction").exists():
                    break
                time.sleep(0.01)
            (pin / "direction").write_text("out")
        return pin

    def set(self, on: bool) -> None:
        try:
            (self._pin() / "value").write_text(str(int(on) ^ int(self.active_low)))
        except OSError as err:
            raise RelayError(f"sysfs gpio{self.line}: {err}") from err

    def check(self) -> tuple[bool, str]:
        if not (self.root / "export").exists():
            return False, f"{self.root} has no export (sysfs GPIO not available)"
        return True, f"sysfs gpio{self.line}"


class Amplifier:
    """Relay state from holders, with warm-up and hold.

    The relay backend is blocking I/O (a ``gpioset`` subprocess, a sysfs write, a log line), so every
    switch runs in a worker thread, one at a time (a lock), and is shielded: a cancelled caller never
    leaves the recorded state disagreeing with the relay.
    """

    def __init__(self, backend: RelayBackend, *, warmup_s: float = 1.0, hold_s: float = 2.0) -> None:
        self.backend = backend
        self.warmup_s = warmup_s
        self.hold_s = hold_s
        self.on: bool | None = None
        self.on_since: float | None = None
        self._holders: set[str] = set()
        self._off_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.on_change: list = []

    async def _switch(self, on: bool, *, force: bool = False) -> None:
        async with self._lock:
            if self.on == on and not force:
                return
            try:
                await asyncio.to_thread(self.backend.set, on)
            except RelayError:
                logger.exception("amplifier relay could not be switched %s", "on" if on else "off")
                self.on = None
                return
            logger.info("amplifier relay %s", "ON" if on else "OFF")
            self.on = on
            self.on_since = time.monotonic() if on else None
        for cb in self.on_change:
            cb()

    async def _set(self, on: bool, *, force: bool = False) -> None:
        await asyncio.shield(self._switch(on, force=force))

    async def force_off(self) -> None:
        """Start-up and shutdown: off regardless of holders (state unknown after a crash)."""
        if self._off_task:
            self._off_task.cancel()
            self._off_task = None
        self._holders.clear()
        await self._set(False, force=True)

    async def acquire(self, holder: str, *, warmup: bool = True) -> None:
        """Hold the relay on; waits the warm-up if it had to be switched on."""
        self._holders.add(holder)
        if self._off_task:
            self._off_task.cancel()
            self._off_task = None
        if not self.on:
            await self._set(True)
            if warmup and self.warmup_s > 0:
                await asyncio.sleep(self.warmup_s)

    def ready_in(self) -> float:
        """Seconds of warm-up still needed before audio (0 if already warm); when off, with a margin
        for the switch itself (a subprocess in a worker thread) so a synchronised start stays warm."""
        if not self.on or self.on_since is None:
            return self.warmup_s + SWITCH_MARGIN_S
        return max(0.0, self.warmup_s - (time.monotonic() - self.on_since))

    def release(self, holder: str, *, hold: bool = True) -> None:
        """Let go; the relay goes off ``hold_s`` later (or at once) if nothing else holds it."""
        self._holders.discard(holder)
        if self._holders or not self.on:
            return
        if self._off_task is None or self._off_task.done():
            delay = self.hold_s if hold else 0.0
            self._off_task = asyncio.get_running_loop().create_task(self._off_after(delay), name="amplifier-hold")

    async def _off_after(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if not self._holders:
            await self._set(False)

    @property
    def holders(self) -> frozenset[str]:
        return frozenset(self._holders)
