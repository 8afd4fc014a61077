"""HQ's inbound MQTT handler under generated and mutated node messages, against a real database.

Through the public entry point (``Orchestrator.handle(topic, payload)``), on every topic HQ subscribes to
(``Orchestrator.subscriptions``: a new one is fuzzed automatically), with ids from the registered nodes and
made-up ones. A message is either handled or refused with a :class:`ContractError` carrying a reason code
and a detail; anything else (a crash) fails.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import select

from hq_server.services.inbound import InboundRefused, Refusal
from hq_server.services.orchestrator import Orchestrator
from hq_server.storage.tables import CommandLog
from hq_server.web import DB
from loaxa_contract import models, topics
from loaxa_contract.errors import ContractError, RefusalReason
from tests.conftest import COMMUNE
from tests.fuzz.conftest import THROWN, budget
from tests.fuzz.strategies import RAW_BODIES, dumps, mutated, schema_values

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(1200), pytest.mark.fuzz]

FILTERS = Orchestrator.subscriptions(COMMUNE)
NODE_IDS = st.one_of(st.sampled_from(["loa-1", "loa-2", "cam-1", "ghost-9"]),
                     st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True))
"""Topic ids a broker can deliver: every broker login (and so every ``%u`` in the ACL) is a valid id."""
MODELS: dict[topics.TopicKind, type[BaseModel]] = {
    topics.TopicKind.NODE_ACK: models.Ack, topics.TopicKind.NODE_STATE: models.NodeState,
    topics.TopicKind.NODE_HEALTH: models.NodeHealth, topics.TopicKind.CAMERA_HEALTH: models.CameraHealth,
}
if hasattr(models, "DetectionEvent") and hasattr(topics.TopicKind, "CAMERA_EVENT"):
    MODELS[topics.TopicKind.CAMERA_EVENT] = models.DetectionEvent


def _kind(topic_filter: str) -> topics.TopicKind | None:
    probe = topic_filter.replace("+", "probe-1")
    try:
        return topics.parse(probe).kind
    except ValueError:
        return None


@st.composite
def messages(draw: st.DrawFn, command_ids: list[str]) -> tuple[str, bytes]:
    topic_filter = draw(st.sampled_from(FILTERS))
    parts = [draw(NODE_IDS) if p == "+" else p for p in topic_filter.split("/")]
    topic = "/".join(parts)
    kind = _kind(topic_filter)
    model = MODELS.get(kind) if kind is not None else None
    if model is None or draw(st.integers(0, 9)) == 0:
        return topic, draw(RAW_BODIES)
    value = draw(schema_values(model.model_json_schema()))
    if isinstance(value, dict):  # make it plausible: the topic's node, a real command, a recent time
        node = next((p for p in parts if p in ("loa-1", "loa-2", "cam-1", "ghost-9")), None)
        if "node" in value and node and draw(st.booleans()):
            value["node"] = node
        if "command_id" in value and draw(st.booleans()):  # same draws whatever HQ holds: no flaky strategy
            pick = draw(st.integers(min_value=0, max_value=19))
            if command_ids:
                value["command_id"] = command_ids[pick % len(command_ids)]
        if "ts" in value and draw(st.booleans()):
            value["ts"] = datetime.now(UTC).isoformat()
        value.setdefault("v", 1)
    if draw(st.booleans()):
        value = draw(mutated(st.just(value)))
    return topic, dumps(value)


@settings(max_examples=budget("mqtt"))
@given(data=st.data())
async def test_inbound_handler_handles_or_refuses_with_a_reason(fuzz_hq, data: st.DataObject) -> None:
    async with fuzz_hq.app[DB].sessions() as s:
        command_ids = list((await s.scalars(select(CommandLog.id).limit(20))).all())
    topic, payload = data.draw(messages(command_ids))
    note(f"{topic} {payload[:400]!r}")
    THROWN["mqtt"] += 1
    try:
        await fuzz_hq.orch.handle(topic, payload)
    except ContractError as err:
        assert err.reason in RefusalReason and err.detail.strip(), f"refusal without a reason: {err!r}"
    except InboundRefused as err:  # a well-formed message HQ does not believe (identity, untargeted, unknown)
        assert err.reason in Refusal and err.detail.strip(), f"refusal without a reason: {err!r}"


async def test_every_subscription_has_a_message_model() -> None:
    """Each subscribed topic kind gets schema-shaped payloads, not only random bytes."""
    kinds = {_kind(f) for f in FILTERS}
    assert None not in kinds and kinds <= set(MODELS), kinds - set(MODELS)
