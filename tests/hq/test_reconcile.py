"""The pure bulletin-reconcile decision: what HQ re-sends to and cancels on a node after its reconnect report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hq_server.services.reconcile import IN_FLIGHT_S, Decision, in_flight, reconcile

# name, wanted, held, terminal for the node, in flight, expected resend, expected cancel
CASES = [
    ("in sync", {"a", "b"}, {"a", "b"}, set(), set(), set(), set()),
    ("nothing anywhere", set(), set(), set(), set(), set(), set()),
    ("state wiped: everything re-sent", {"a", "r"}, set(), set(), set(), {"a", "r"}, set()),
    ("one missing", {"a", "b"}, {"a"}, set(), set(), {"b"}, set()),
    ("cancelled at HQ, still held", {"a"}, {"a", "x"}, set(), set(), set(), {"x"}),
    ("unknown to HQ", set(), {"ghost"}, set(), set(), set(), {"ghost"}),
    ("finished on the node is never re-sent (its done-list may be gone)", {"p"}, set(), {"p"}, set(), set(), set()),
    ("finished at HQ but still held: cancelled", set(), {"p"}, {"p"}, set(), set(), {"p"}),
    ("just sent, not in the report yet: not sent twice", {"n"}, set(), set(), {"n"}, set(), set()),
    ("in flight but held: nothing", {"n"}, {"n"}, set(), {"n"}, set(), set()),
    ("in flight flag on an unwanted held id does not stop its cancel", set(), {"x"}, set(), {"x"}, set(), {"x"}),
    ("mixed", {"keep", "lost", "new"}, {"keep", "gone", "old"}, {"old"}, {"new"},
     {"lost"}, {"gone", "old"}),
]


@pytest.mark.parametrize(("wanted", "held", "terminal", "busy", "resend", "cancel"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reconcile_table(wanted, held, terminal, busy, resend, cancel):
    decision = reconcile(wanted, held, terminal, busy)
    assert decision == Decision(frozenset(resend), frozenset(cancel))
    assert decision.resend.isdisjoint(held) and decision.cancel.isdisjoint(wanted)


def test_reconcile_takes_any_iterables_and_duplicates():
    resend, cancel = reconcile(["a", "b", "b"], ["c", "c"], ())
    assert (resend, cancel) == ({"a", "b"}, {"c"})


T = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ONLINE = T - timedelta(seconds=2)  # the node's current online period began 2 s ago


def ago(s: float) -> datetime:
    return T - timedelta(seconds=s)


# name, last_sent_at, attempts, online_since, expected
FLIGHT = [
    ("never sent", None, 0, ONLINE, False),
    ("re-sent 1 s ago (the other reconnect trigger)", ago(1), 2, ONLINE, True),
    ("re-sent long ago", ago(IN_FLIGHT_S + 1), 3, ONLINE, False),
    ("re-sent exactly at the window edge", ago(IN_FLIGHT_S), 2, ONLINE, False),
    ("first send to the live node just now (dispatch racing the report)", ago(0.5), 1, ONLINE, True),
    ("first send while the node was offline: may never have arrived", ago(5), 1, ONLINE, False),
    ("first send, node not online at HQ", ago(0.5), 1, None, False),
    ("re-send, node not online at HQ", ago(0.5), 2, None, True),
]


@pytest.mark.parametrize(("last_sent_at", "attempts", "online_since", "expected"),
                         [c[1:] for c in FLIGHT], ids=[c[0] for c in FLIGHT])
def test_in_flight_table(last_sent_at, attempts, online_since, expected):
    assert in_flight(last_sent_at, attempts, online_since, T) is expected


def test_in_flight_window_is_configurable():
    assert in_flight(ago(20), 2, ONLINE, T, window_s=30)
    assert not in_flight(ago(20), 2, ONLINE, T, window_s=5)
