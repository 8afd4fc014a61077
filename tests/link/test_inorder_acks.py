"""Manual acknowledgement bookkeeping: in arrival order, and never across connections."""

from __future__ import annotations

from loaxa_link.inorder_acks import InOrderAcks


def test_acks_leave_in_arrival_order_whatever_order_handlers_finish() -> None:
    acks = InOrderAcks()
    acks.new_connection()
    t1, t2, t3 = acks.received(11, 1), acks.received(12, 1), acks.received(13, 1)
    assert acks.handled(t3) == []  # waits for 11 and 12
    assert acks.handled(t1) == [(11, 1)]
    assert acks.handled(t2) == [(12, 1), (13, 1)]
    assert acks.waiting == 0
    assert acks.handled(t2) == []  # twice: nothing more


def test_a_message_of_a_dead_connection_is_never_acknowledged_on_the_next() -> None:
    acks = InOrderAcks()
    acks.new_connection()
    old = acks.received(7, 1)
    acks.new_connection()  # reconnect: the broker re-sends packet 7 itself
    again = acks.received(7, 1)
    assert acks.handled(old) == []
    assert acks.handled(again) == [(7, 1)]
