"""The topic table: every topic builds, parses back, and matches its subscription filter."""

from __future__ import annotations

import pytest

from loaxa_contract import topics
from loaxa_contract.topics import TOPICS, TopicKind


def _matches(filt: str, topic: str) -> bool:
    f, t = filt.split("/"), topic.split("/")
    return len(f) == len(t) and all(a in ("+", b) for a, b in zip(f, t, strict=True))


@pytest.mark.parametrize("kind", list(TopicKind))
def test_every_topic_round_trips_and_matches_its_filter(kind: TopicKind) -> None:
    ident = None if kind == TopicKind.ALL_CMD else "thon-1"
    if kind in (TopicKind.CAMERA_EVENT, TopicKind.CAMERA_HEALTH):  # two ids, by name
        topic = topics.build(kind, "xa-a", node="n-1", camera="thon-1")
        assert topics.parse(topic).ids == {"node": "n-1", "camera": "thon-1"}
        assert topics.parse(topic).node == "n-1"
    else:
        topic = topics.build(kind, "xa-a", ident)
    parsed = topics.parse(topic)
    assert (parsed.kind, parsed.commune, parsed.ident) == (kind, "xa-a", ident)
    assert _matches(topics.filter_for(kind, "xa-a"), topic)
    assert topic.startswith("loaxa/v1/xa-a/")


def test_topic_table_matches_design() -> None:
    assert TOPICS[TopicKind.NODE_STATE].retained and TOPICS[TopicKind.CAMERA_HEALTH].retained
    assert not TOPICS[TopicKind.NODE_CMD].retained and not TOPICS[TopicKind.NODE_ACK].retained
    assert topics.node_ack("c", "n") == "loaxa/v1/c/node/n/ack"
    assert topics.zone_cmd("c", "z") == "loaxa/v1/c/zone/z/cmd"
    assert topics.all_cmd("c") == "loaxa/v1/c/all/cmd"
    assert topics.camera_event("c", "n", "k") == "loaxa/v1/c/node/n/camera/k/event"
    assert not TOPICS[TopicKind.CAMERA_EVENT].retained
    with pytest.raises(ValueError, match="needs the ids node, camera"):
        topics.build(TopicKind.CAMERA_EVENT, "c", "k")
    with pytest.raises(ValueError, match="valid id"):
        topics.camera_event("c", "n", "k/#")


def test_every_node_published_topic_is_under_the_node_so_the_acl_proves_the_publisher() -> None:
    for spec in TOPICS.values():
        assert spec.publisher in ("node", "hq"), spec
        if spec.publisher == "node":
            assert spec.path.startswith("node/{node}/"), spec
    cam = topics.camera_health("c", "loa-1", "cong-1")
    assert cam == "loaxa/v1/c/node/loa-1/camera/cong-1/health"
    assert (topics.parse(cam).node, topics.parse(cam).ids["camera"]) == ("loa-1", "cong-1")
    with pytest.raises(ValueError):
        topics.build(TopicKind.CAMERA_HEALTH, "c", "loa-1")  # the camera id is missing
    with pytest.raises(ValueError):
        topics.camera_health("c", "loa-1", "+")
    assert topics.pattern(TopicKind.CAMERA_HEALTH, "c", node="%u") == "loaxa/v1/c/node/%u/camera/+/health"


def test_node_listens_to_own_zone_and_all_topics() -> None:
    assert topics.node_command_filters("c", "n1", ["z1", "z2"]) == [
        "loaxa/v1/c/node/n1/cmd", "loaxa/v1/c/zone/z1/cmd", "loaxa/v1/c/zone/z2/cmd", "loaxa/v1/c/all/cmd"]


@pytest.mark.parametrize(("target", "topic"), [
    ("all", "loaxa/v1/c/all/cmd"),
    ("zone:thon-2", "loaxa/v1/c/zone/thon-2/cmd"),
    ("node:n-1", "loaxa/v1/c/node/n-1/cmd"),
])
def test_target_to_topic(target: str, topic: str) -> None:
    assert topics.command_topic_for_target("c", target) == topic


@pytest.mark.parametrize("bad", ["zone:", "everyone", "node:Bad Id", "zone:a/b", "zone:+", "node:#"])
def test_bad_targets_are_refused_with_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"target|valid id"):
        topics.parse_target(bad)


@pytest.mark.parametrize("bad", ["other/v1/c/all/cmd", "loaxa/v1/c/node/x/unknown", "loaxa/v1/c/node/B A/cmd"])
def test_foreign_topics_do_not_parse(bad: str) -> None:
    with pytest.raises(ValueError):
        topics.parse(bad)


def test_ids_cannot_inject_wildcards() -> None:
    with pytest.raises(ValueError):
        topics.node_cmd("c", "+")
    with pytest.raises(ValueError):
        topics.node_cmd("c", "a/#")
