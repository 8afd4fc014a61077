"""The daily programme ("tắt, mở chương trình tự động"): windows and quiet hours. Pure, clock-free.

During a window the amplifier is on and queued bulletins play; outside every window an untimed
``normal``/``priority`` bulletin waits for the next window. Quiet hours hold everything except an
emergency. A window whose end is before its start crosses midnight. No windows at all means "always
open" (a node that HQ has not yet given a programme still speaks). All times are local to the
programme's time zone (Asia/Ho_Chi_Minh by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loaxa_contract.models import ProgramWindow, SetProgramScheduleCommand

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class Programme:
    windows: tuple[ProgramWindow, ...] = ()
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = DEFAULT_TZ
    source_id: str | None = None  # command id of the set_program_schedule that set it
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", ZoneInfo(self.timezone))

    @classmethod
    def from_command(cls, cmd: SetProgramScheduleCommand) -> Programme:
        return cls(tuple(cmd.windows), cmd.quiet_start, cmd.quiet_end, cmd.timezone, cmd.id)

    @property
    def always_open(self) -> bool:
        return not self.windows

    def _spans(self, anchor: date, start: time, end: time, days: list[int] | None = None) -> list[Span]:
        """Occurrences of a daily [start, end) span that begin on anchor-1 .. anchor+1."""
        spans = []
        for offset in (-1, 0, 1):
            day = anchor + timedelta(days=offset)
            if days is not None and day.weekday() not in days:
                continue
            s = datetime.combine(day, start, self._tz)
            e = datetime.combine(day + timedelta(days=1) if end <= start else day, end, self._tz)
            spans.append(Span(s, e))
        return spans

    def window_at(self, now: datetime) -> Span | None:
        """The programme window containing ``now`` (None outside windows; None too if always open)."""
        local = now.astimezone(self._tz)
        for w in self.windows:
            for span in self._spans(local.date(), w.start, w.end, w.days):
                if span.contains(local):
                    return span
        return None

    def in_window(self, now: datetime) -> bool:
        return self.always_open or self.window_at(now) is not None

    def is_quiet(self, now: datetime) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local = now.astimezone(self._tz)
        return any(s.contains(local) for s in self._spans(local.date(), self.quiet_start, self.quiet_end))

    def next_boundary(self, now: datetime) -> datetime | None:
        """The next instant after ``now`` at which a window or the quiet period starts or ends."""
        local = now.astimezone(self._tz)
        edges: list[datetime] = []
        for w in self.windows:
            for offset in (0, 1, 2):
                for span in self._spans(local.date() + timedelta(days=offset), w.start, w.end, w.days):
                    edges += [span.start, span.end]
        if self.quiet_start is not None and self.quiet_end is not None:
            for offset in (0, 1):
                for span in self._spans(local.date() + timedelta(days=offset), self.quiet_start, self.quiet_end):
                    edges += [span.start, span.end]
        later = [e for e in edges if e > local]
        return min(later) if later else None
