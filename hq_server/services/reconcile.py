"""Bulletin reconcile: what HQ re-sends to, and cancels on, a node from the node's own list (pure, no I/O).

On every (re)connect a node reports the ids of every bulletin it holds (queued, scheduled, recurring;
``NodeHealth.bulletins``, docs/speaker-node.md). HQ is the source of truth for the node's schedule:

* ``resend = wanted − held − terminal − in_flight``: a bulletin HQ wants the node to hold but the node
  does not (SD card replaced, state lost, command never delivered) is sent again. Never one this node
  already finished (its done-list may be gone with its state: a re-send would replay it), and never one
  HQ has just sent that may simply not have arrived when the node wrote its report (a burst of
  duplicates is what :func:`in_flight` prevents).
* ``cancel = held − wanted``: held but no longer wanted — cancelled at HQ while the node could not get
  the cancel, expired, finished at HQ's record, or unknown to HQ.

"Wanted" (computed by the orchestrator): active, unexpired bulletins that either have a delivery for
this node that is not terminal, or have no delivery yet and whose targets cover the node (a node HQ
did not know at send time, reached through its zone or ``all``). Recurring bulletins stay wanted until
they expire. A broadcast still being sent (its broker stalled) is wanted and in flight: a held copy is
not cancelled and a missing one is left to the dispatcher that is sending it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

IN_FLIGHT_S = 10.0
"""A bulletin sent to a live node less than this long ago is not re-sent because a report lacks it."""


class Decision(NamedTuple):
    resend: frozenset[str]
    cancel: frozenset[str]


def reconcile(wanted: Iterable[str], held: Iterable[str], terminal_for_node: Iterable[str],
              in_flight: Iterable[str] = ()) -> Decision:
    """(resend, cancel) for one node; see the module docstring. Order of the inputs does not matter."""
    wanted_s, held_s = frozenset(wanted), frozenset(held)
    resend = wanted_s - held_s - frozenset(terminal_for_node) - frozenset(in_flight)
    return Decision(resend=resend, cancel=held_s - wanted_s)


def in_flight(last_sent_at: datetime | None, attempts: int, online_since: datetime | None, at: datetime,
              window_s: float = IN_FLIGHT_S) -> bool:
    """True when HQ's last send of a bulletin to a node is so recent that the node may not have it yet.

    Only sends that reached a *live* node count: a re-send (``attempts >= 2``; re-sends go to the node's
    own topic when it has just connected), or the first send made after the node's current online period
    began (``online_since``, HQ's time). The first send made while the node was offline does not count:
    a node without a persistent session (new, or its session was cleared) never got it, so the reconnect
    must send it again (a node that did get it dedupes by ``bulletin_id``).
    """
    if last_sent_at is None:
        return False
    age = (at - last_sent_at).total_seconds()
    if age >= window_s:
        return False
    return attempts >= 2 or (online_since is not None and last_sent_at >= online_since)
