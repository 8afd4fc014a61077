"""Pure trust rules for node messages: identity from the topic, command reach, repeat-to-alert."""

from __future__ import annotations

import pytest

from hq_server.services.inbound import (
    InboundRefused,
    Refusal,
    RepeatTracker,
    alert_for,
    check_identity,
    command_reaches,
)
from loaxa_contract import topics


def test_the_sender_is_the_topics_node_and_the_payload_must_agree() -> None:
    ack = topics.parse(topics.node_ack("c", "loa-1"))
    assert check_identity(ack, "loa-1") == "loa-1"
    with pytest.raises(InboundRefused) as err:
        check_identity(ack, "loa-2")
    assert err.value.reason == Refusal.IDENTITY_MISMATCH and err.value.node == "loa-1"
    cam = topics.parse(topics.camera_health("c", "loa-1", "cong-xa"))
    assert check_identity(cam, "loa-1", "cong-xa") == "loa-1"
    with pytest.raises(InboundRefused):
        check_identity(cam, "loa-1", "cho-xa")  # the payload names another camera than the topic
    with pytest.raises(ValueError):
        check_identity(topics.parse(topics.all_cmd("c")), "loa-1")  # not a node topic


@pytest.mark.parametrize(("target", "node", "zones", "reaches"), [
    ("all", "loa-1", [], True),
    ("node:loa-1", "loa-1", [], True),
    ("node:loa-2", "loa-1", ["thon-1"], False),
    ("zone:thon-1", "loa-1", ["thon-1", "thon-2"], True),
    ("zone:thon-3", "loa-1", ["thon-1"], False),
])
def test_an_ack_counts_only_for_a_command_that_reached_the_node(target, node, zones, reaches) -> None:
    assert command_reaches(target, node, zones) is reaches


def test_repeated_refusals_raise_one_alert_per_window() -> None:
    t = RepeatTracker(window_s=600)
    assert [t.record("loa-1", Refusal.IDENTITY_MISMATCH, float(i)) for i in range(5)] == [
        False, False, True, False, False]
    assert not t.record("loa-2", Refusal.IDENTITY_MISMATCH, 5.0)  # counted per node
    assert not t.record("loa-1", Refusal.UNKNOWN_COMMAND, 6.0)  # never alerted: hq-server send acks, old acks
    assert t.record("cam-1", Refusal.CAMERA_CLAIM, 7.0)  # at once
    assert not t.record("cam-1", Refusal.CAMERA_CLAIM, 8.0)
    # a window later, a node still lying is alerted again
    assert [t.record("loa-1", Refusal.IDENTITY_MISMATCH, 700.0 + i) for i in range(3)] == [False, False, True]


def test_the_tracker_forgets_old_subjects_within_its_bound() -> None:
    t = RepeatTracker(max_keys=10)
    for i in range(100):
        t.record(f"gia-{i}", Refusal.IDENTITY_MISMATCH, float(i))
    assert len(t._seen) <= 11


def test_alert_texts_are_vietnamese_first_and_say_what_happened() -> None:
    sev, msg = alert_for(InboundRefused(Refusal.CAMERA_CLAIM, "loa-2", "camera cong-xa is bound to node loa-1",
                                        subject="cong-xa"))
    assert sev == "critical" and msg.startswith("Nút loa-2") and "cong-xa" in msg
    sev, msg = alert_for(InboundRefused(Refusal.IDENTITY_MISMATCH, "loa-2", "node_ack payload says node 'loa-1'"))
    assert sev == "warning" and "mang danh" in msg and "identity_mismatch" in msg
