"""The topic table: every MQTT topic of LoaXa, with builders, a parser and subscription filters.

All topics live under ``loaxa/v1/{commune}/``. Both sides build topics only through this module, and
the edge agent generates its subscriptions from :func:`node_command_filters`, so a topic cannot be
spelled two ways. The broker's ACL is generated from this table too (``loaxa_link.credentials``):
every topic a node publishes lives under ``node/{node}/``, so the broker alone proves which node
published a message, and HQ takes the node id from the topic, never from the payload.

To add a topic, add a :class:`TopicKind` and one :class:`TopicSpec` row; ``publisher`` (``node`` or
``hq``) decides who the ACL lets write it (a node-published row must start with ``node/{node}/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

ROOT = "loaxa/v1"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TopicKind(StrEnum):
    NODE_STATE = "node_state"
    NODE_HEALTH = "node_health"
    NODE_CMD = "node_cmd"
    ZONE_CMD = "zone_cmd"
    ALL_CMD = "all_cmd"
    NODE_ACK = "node_ack"
    CAMERA_HEALTH = "camera_health"
    CAMERA_EVENT = "camera_event"


@dataclass(frozen=True)
class TopicSpec:
    """One row of the table: the path below the commune, who publishes (``node`` / ``hq``), retained or not."""

    kind: TopicKind
    path: str  # ``{key}`` placeholders: one, or several built by name (``build(..., node=, camera=)``)
    publisher: str
    retained: bool
    qos: int = 1


TOPICS: dict[TopicKind, TopicSpec] = {
    spec.kind: spec
    for spec in (
        # the node publishes its birth ("online"); the broker publishes its last will ("offline")
        TopicSpec(TopicKind.NODE_STATE, "node/{node}/state", "node", True),
        TopicSpec(TopicKind.NODE_HEALTH, "node/{node}/health", "node", False),
        TopicSpec(TopicKind.NODE_CMD, "node/{node}/cmd", "hq", False),
        TopicSpec(TopicKind.ZONE_CMD, "zone/{zone}/cmd", "hq", False),
        TopicSpec(TopicKind.ALL_CMD, "all/cmd", "hq", False),
        TopicSpec(TopicKind.NODE_ACK, "node/{node}/ack", "node", False),
        # camera topics are under the node: the broker's ACL (pattern node/%u/…) proves which node published
        TopicSpec(TopicKind.CAMERA_HEALTH, "node/{node}/camera/{camera}/health", "node", True),
        TopicSpec(TopicKind.CAMERA_EVENT, "node/{node}/camera/{camera}/event", "node", False),
    )
}

COMMAND_KINDS = frozenset({TopicKind.NODE_CMD, TopicKind.ZONE_CMD, TopicKind.ALL_CMD})


def valid_id(value: str) -> bool:
    """Identifiers are lower-case ASCII slugs: safe in topics, file names and ACL patterns."""
    return bool(_ID_RE.fullmatch(value))  # fullmatch: "$" alone would let "loa-1\n" through


def check_id(value: str, what: str) -> str:
    if not valid_id(value):
        raise ValueError(
            f"{what} {value!r} is not a valid id: use 1-64 characters a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


def build(kind: TopicKind, commune: str, ident: str | None = None, **ids: str) -> str:
    """Build the concrete topic of ``kind`` for ``commune`` and the node/zone/camera ``ident``.

    A path with several placeholders takes them by name: ``build(CAMERA_EVENT, c, node="n", camera="k")``.
    """
    spec = TOPICS[kind]
    check_id(commune, "commune")
    names = _PLACEHOLDER_RE.findall(spec.path)
    if len(names) == 1 and ident is not None:
        ids = {names[0]: ident}
    missing = [n for n in names if n not in ids]
    if missing or set(ids) - set(names):
        raise ValueError(f"topic {kind.value} needs the ids {', '.join(names) or 'none'}")
    for name, value in ids.items():
        check_id(value, name)
    return f"{ROOT}/{commune}/{_PLACEHOLDER_RE.sub(lambda m: ids[m.group(1)], spec.path)}"


def node_state(commune: str, node: str) -> str:
    return build(TopicKind.NODE_STATE, commune, node)


def node_health(commune: str, node: str) -> str:
    return build(TopicKind.NODE_HEALTH, commune, node)


def node_cmd(commune: str, node: str) -> str:
    return build(TopicKind.NODE_CMD, commune, node)


def zone_cmd(commune: str, zone: str) -> str:
    return build(TopicKind.ZONE_CMD, commune, zone)


def all_cmd(commune: str) -> str:
    return build(TopicKind.ALL_CMD, commune)


def node_ack(commune: str, node: str) -> str:
    return build(TopicKind.NODE_ACK, commune, node)


def camera_health(commune: str, node: str, camera: str) -> str:
    """Retained health of one camera, under the node that watches it (only that node may publish it)."""
    return build(TopicKind.CAMERA_HEALTH, commune, node=node, camera=camera)


def camera_event(commune: str, node: str, camera: str) -> str:
    return build(TopicKind.CAMERA_EVENT, commune, node=node, camera=camera)


def command_topic_for_target(commune: str, target: str) -> str:
    """Map a command target (``all``, ``zone:NAME``, ``node:ID``) to the topic it is published on."""
    kind, ident = parse_target(target)
    if kind == "all":
        return all_cmd(commune)
    if kind == "zone":
        return zone_cmd(commune, ident)
    return node_cmd(commune, ident)


def parse_target(target: str) -> tuple[str, str]:
    """Split ``all`` / ``zone:NAME`` / ``node:ID`` into (kind, id), with a precise error otherwise."""
    if target == "all":
        return "all", ""
    kind, sep, ident = target.partition(":")
    if not sep or kind not in ("zone", "node"):
        raise ValueError(f"target {target!r} must be 'all', 'zone:NAME' or 'node:ID'")
    check_id(ident, kind)
    return kind, ident


@dataclass(frozen=True)
class ParsedTopic:
    kind: TopicKind
    commune: str
    ident: str | None  # the last (most specific) id: the camera of a camera topic
    ids: dict[str, str] = field(default_factory=dict)  # every id by placeholder name ("node", "camera")

    @property
    def node(self) -> str | None:
        """The node the topic belongs to: for node → HQ topics its sender (the broker's ACL proves it)."""
        return self.ids.get("node")


_SPLIT: tuple[tuple[TopicSpec, tuple[str, ...]], ...] = tuple((spec, tuple(spec.path.split("/")))
                                                              for spec in TOPICS.values())
"""Each row's path split once (HQ parses every node message's topic: thousands a second in a broadcast)."""


def parse(topic: str) -> ParsedTopic:
    """Parse a concrete topic back into its kind and ids; ``ValueError`` if it is not ours."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise ValueError(f"topic {topic!r} is not under {ROOT}/")
    commune, rest = parts[2], parts[3:]
    for spec, pattern in _SPLIT:
        if len(pattern) != len(rest):
            continue
        ident = None
        ids: dict[str, str] = {}
        for want, got in zip(pattern, rest, strict=True):
            if want.startswith("{"):
                ident = ids[want[1:-1]] = got
            elif want != got:
                break
        else:
            for value in ids.values():
                if not valid_id(value):
                    raise ValueError(f"topic {topic!r} has an invalid id {value!r}")
            return ParsedTopic(spec.kind, commune, ident, ids)
    raise ValueError(f"topic {topic!r} matches no LoaXa topic")


def filter_for(kind: TopicKind, commune: str) -> str:
    """Subscription filter for every instance of ``kind`` in a commune (``+`` for the id)."""
    return pattern(kind, commune)


def placeholders(kind: TopicKind) -> tuple[str, ...]:
    """The id names in a topic's path, in order (``("node", "camera")``)."""
    return tuple(_PLACEHOLDER_RE.findall(TOPICS[kind].path))


def pattern(kind: TopicKind, commune: str, **fixed: str) -> str:
    """Topic filter of ``kind`` with the ``fixed`` ids put in verbatim and every other id ``+``.

    Values are not checked, so an ACL generator can put a broker substitution (Mosquitto's ``%u``) in
    place of the node id; code building a real topic uses :func:`build`.
    """
    check_id(commune, "commune")
    return f"{ROOT}/{commune}/" + _PLACEHOLDER_RE.sub(lambda m: fixed.get(m.group(1), "+"), TOPICS[kind].path)


def node_command_filters(commune: str, node: str, zones: list[str]) -> list[str]:
    """The command topics a node listens to: its own, each of its zones', and the commune-wide one."""
    return [node_cmd(commune, node), *(zone_cmd(commune, z) for z in zones), all_cmd(commune)]
