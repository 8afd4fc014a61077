"""Node health readings: disk, CPU temperature, clock offset. Each reader returns None when unknown."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")


def disk_free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def cpu_temp_c(path: Path = THERMAL) -> float | None:
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


_CHRONY = re.compile(r"System time\s*:\s*([0-9.]+) seconds (fast|slow)")


def parse_chronyc_tracking(text: str) -> float | None:
    """Offset of the system clock from NTP time in ms (positive: the clock is ahead)."""
    m = _CHRONY.search(text)
    if not m:
        return None
    value = float(m.group(1)) * 1000.0
    return round(value if m.group(2) == "fast" else -value, 3)


def clock_offset_ms() -> tuple[float | None, str]:
    """(offset in ms or None, how it was obtained) — chronyc first, then timedatectl's sync flag."""
    if shutil.which("chronyc"):
        try:
            out = subprocess.run(["chronyc", "tracking"], capture_output=True, text=True, timeout=3, check=False)
            offset = parse_chronyc_tracking(out.stdout)
            if offset is not None:
                return offset, "chronyc tracking"
        except (OSError, subprocess.SubprocessError):
            pass
    if shutil.which("timedatectl"):
        try:
            out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                 text=True, timeout=3, check=False)
            if out.stdout.strip() == "yes":
                return None, "timedatectl: NTP synchronised (offset not reported)"
            if out.returncode == 0:
                return None, "timedatectl: clock NOT synchronised"
        except (OSError, subprocess.SubprocessError):
            pass
    return None, "no chronyc/timedatectl: clock offset unknown"


class CachedReading:
    """Re-read an expensive value at most every ``ttl_s`` seconds."""

    def __init__(self, fn, ttl_s: float) -> None:
        self.fn, self.ttl_s, self.value, self.at = fn, ttl_s, None, -1e9

    def get(self):
        if time.monotonic() - self.at > self.ttl_s:
            self.value, self.at = self.fn(), time.monotonic()
        return self.value
