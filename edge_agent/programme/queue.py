"""What plays next: the priority policy of Circular 39/2020/TT-BTTTT as pure functions. No I/O, no clock.

* ``emergency`` (khẩn cấp) plays at once: it preempts anything that is not an emergency, and ignores
  programme windows and quiet hours.
* ``priority`` (ưu tiên) plays before ``normal`` in the programme; between two items of one level the
  order HQ sent them in decides (command sequence number).
* An item with a start instant (``play_at`` or a recurrence occurrence) plays at that instant, even
  outside a programme window, but not in quiet hours; an untimed item waits for a window.
* An item past its ``expires_at`` is never played: it is reported ``expired``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge_agent.programme.windows import Programme

EMERGENCY = 2


@dataclass
class QueueItem:
    bulletin_id: str
    command_id: str
    rank: int  # Priority.rank: 0 normal, 1 priority, 2 emergency
    order: int  # HQ sequence number: the operator's order
    expires_at: datetime
    start_at: datetime | None = None  # synchronised start instant
    timed: bool = False  # from play_at / recurrence: not gated by programme windows
    occurrence: str = ""  # ISO instant of a series occurrence; "" for a one-off bulletin
    preempted: int = field(default=0, compare=False)
    replays: int = field(default=0, compare=False)  # replays after interruptions by a restart
    cut_started_at: datetime | None = field(default=None, compare=False)  # when its audio last started

    @property
    def gated(self) -> bool:
        return not self.timed and self.rank < EMERGENCY

    @property
    def key(self) -> tuple[str, str]:
        """One play: a bulletin, or one occurrence of a series. Never queued twice."""
        return self.bulletin_id, self.occurrence

    @property
    def occurrence_at(self) -> datetime | None:
        return datetime.fromisoformat(self.occurrence) if self.occurrence else None


def preempts(incoming: QueueItem, playing: QueueItem | None) -> bool:
    return playing is not None and incoming.rank == EMERGENCY and playing.rank < EMERGENCY


def _sort_key(item: QueueItem) -> tuple[int, bool, datetime, int]:
    return (-item.rank, item.start_at is None, item.start_at or datetime.max.replace(tzinfo=item.expires_at.tzinfo),
            item.order)


class PlayQueue:
    def __init__(self, lead: timedelta = timedelta(seconds=3)) -> None:
        self.items: list[QueueItem] = []
        self.lead = lead  # a timed item is taken this long before its start, to warm the amplifier

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, bulletin_id: str) -> bool:
        return any(i.bulletin_id == bulletin_id for i in self.items)

    def push(self, item: QueueItem) -> bool:
        """Add ``item``; False (and nothing added) if the same play is already queued."""
        if any(i.key == item.key for i in self.items):
            return False
        self.items.append(item)
        return True

    def remove(self, bulletin_id: str) -> list[QueueItem]:
        gone = [i for i in self.items if i.bulletin_id == bulletin_id]
        self.items = [i for i in self.items if i.bulletin_id != bulletin_id]
        return gone

    def pop_expired(self, now: datetime) -> list[QueueItem]:
        gone = [i for i in self.items if i.expires_at <= now]
        self.items = [i for i in self.items if i.expires_at > now]
        return gone

    def blocked(self, item: QueueItem, now: datetime, programme: Programme) -> bool:
        if item.rank >= EMERGENCY:
            return False
        if programme.is_quiet(now):
            return True
        if item.gated and not programme.in_window(now):
            return True
        return item.start_at is not None and now < item.start_at - self.lead

    def next_ready(self, now: datetime, programme: Programme) -> QueueItem | None:
        """Remove and return the item to play now, or None."""
        ready = [i for i in self.items if not self.blocked(i, now, programme)]
        if not ready:
            return None
        best = min(ready, key=_sort_key)
        self.items.remove(best)
        return best

    def has_before(self, item: QueueItem, now: datetime, programme: Programme) -> bool:
        """True if a queued play that is ready now comes before ``item`` in the policy order."""
        key = _sort_key(item)
        return any(_sort_key(i) < key for i in self.items if not self.blocked(i, now, programme))

    def wake_at(self, now: datetime, programme: Programme) -> datetime | None:
        """When the queue should be looked at again if nothing changes."""
        times = [i.start_at - self.lead for i in self.items if i.start_at is not None and i.start_at - self.lead > now]
        times += [i.expires_at for i in self.items]
        boundary = programme.next_boundary(now)
        if boundary is not None and self.items:
            times.append(boundary)
        return min(times) if times else None
