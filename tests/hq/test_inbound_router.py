"""The inbound router: generated from the topic table, acks ingested in batches, idempotent (real HQ app;
SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text

from hq_server.services.inbound_router import INBOUND, InboundRouter, MissingHandler, joins_in_order
from hq_server.storage.tables import Delivery, Node, Zone, now
from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage
from tests.conftest import COMMUNE
from tests.hq.fixtures import Hq, fresh_postgres_db, wait_async

STAGES = (AckStage.RECEIVED, AckStage.RENDERED, AckStage.SCHEDULED, AckStage.PLAYING, AckStage.PLAYED)


def test_inbound_kinds_are_the_node_published_rows_of_the_topic_table():
    assert set(INBOUND) == {s.kind for s in topics.TOPICS.values() if s.publisher == "node"}
    assert topics.TopicKind.NODE_ACK in INBOUND and topics.TopicKind.NODE_CMD not in INBOUND


async def test_every_inbound_topic_kind_has_a_handler(hq: Hq):
    router = hq.orch.router
    assert set(router.handlers) | {topics.TopicKind.NODE_ACK} == set(INBOUND)  # acks: the batched ingester
    subscribed = {topics.parse(f.replace("+", "x")).kind for f in hq.orch.link.config.subscriptions}
    assert subscribed == set(INBOUND)
    incomplete = dict(router.handlers)
    incomplete.pop(topics.TopicKind.CAMERA_HEALTH)
    with pytest.raises(MissingHandler, match="camera_health"):
        InboundRouter(router.sessions, incomplete, router.ingester, router.on_refused, router.metrics)


async def _broadcast(hq: Hq, n: int) -> tuple[str, dict[str, str]]:
    t = now()
    async with hq.app[DB].sessions() as s:
        await s.execute(insert(Zone), [{"slug": "thon-1", "name": "Thôn 1", "created_by": "t", "created_at": t,
                                        "updated_at": t}])
        await s.execute(insert(Node), [{"id": f"loa-{i:04d}", "zones": ["thon-1"], "state": "online",
                                        "state_since": t, "registered": True} for i in range(n)])
        await s.commit()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": "Thông báo họp thôn.", "targets": {"zones": ["thon-1"]}})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    await hq.wait_bulletin(bid, "active")
    return bid, {d["node"]: d["command_id"] for d in (await hq.deliveries(bid)).values()}


def _acks(bid: str, commands: dict[str, str]) -> list[tuple[str, bytes]]:
    out = []
    t = datetime.now(UTC)
    for stage in STAGES:
        for node, command_id in commands.items():
            extra = {"started_at": t, "ended_at": t, "duration_s": 3.0} if stage == AckStage.PLAYED else {}
            out.append((topics.node_ack(COMMUNE, node), codec.encode(Ack(node=node, command_id=command_id,
                                                                         bulletin_id=bid, stage=stage, **extra))))
    return out


async def _ingest_twice(hq: Hq) -> None:
    bid, commands = await _broadcast(hq, 400)
    router, metrics = hq.orch.router, hq.orch.metrics
    messages = _acks(bid, commands)
    forged = Ack(node="loa-0001", command_id="no-such-command", bulletin_id=bid, stage=AckStage.PLAYED)
    messages.append((topics.node_ack(COMMUNE, "loa-0001"), codec.encode(forged)))
    batches = metrics.get("loaxa_hq_ack_batches_total")
    futures = [router.on_message(topic, payload) for topic, payload in messages]
    await asyncio.wait_for(asyncio.gather(*futures), 120)  # each resolves once committed (then the broker is acked)
    used = metrics.get("loaxa_hq_ack_batches_total") - batches
    print(f"{len(messages)} acks in {used:.0f} transaction(s)")
    assert used <= len(messages) / 50  # batched, not one transaction per ack
    assert metrics.get("loaxa_hq_inbound_refused_total", reason="unknown_command", kind="node_ack") == 1
    b = await hq.wait_bulletin(bid, "completed")
    assert b["delivery_summary"] == {"played": 400}

    # the broker delivers again what HQ had not acknowledged when it stopped: applying it twice changes nothing
    async with hq.app[DB].sessions() as s:
        before = (await s.execute(select(Delivery.node_id, Delivery.state, Delivery.updated_at)
                                  .order_by(Delivery.node_id))).all()
    await asyncio.wait_for(asyncio.gather(*[router.on_message(t, p) for t, p in messages]), 120)
    async with hq.app[DB].sessions() as s:
        after = (await s.execute(select(Delivery.node_id, Delivery.state, Delivery.updated_at)
                                 .order_by(Delivery.node_id))).all()
        count = await s.scalar(select(func.count()).select_from(Delivery))
    assert after == before and count == 400
    assert (await hq.wait_bulletin(bid, "completed"))["state_reason"] is None


async def test_acks_are_ingested_in_batches_and_twice_changes_nothing(hq: Hq):
    await _ingest_twice(hq)


@pytest.mark.postgres
async def test_same_on_postgresql(start_hq, postgres_url):
    await _ingest_twice(await start_hq(await fresh_postgres_db(postgres_url, "hq_ingest")))


async def test_a_message_hq_cannot_read_is_acknowledged_and_counted(hq: Hq):
    router = hq.orch.router
    before = hq.orch.processed
    bad = [router.on_message(topics.node_ack(COMMUNE, "loa-x"), b"{not json"),
           router.on_message(topics.node_health(COMMUNE, "loa-x"), b"[]"),
           router.on_message("loaxa/v1/other/thing", b"{}")]
    await asyncio.wait_for(asyncio.gather(*bad), 20)  # resolved: redelivering them would fail the same way
    await wait_async(lambda: _true(hq.orch.processed >= before + 3), 10, "all three handled")
    assert hq.orch.metrics.get("loaxa_hq_inbound_bad_total") >= 2


async def _true(value: bool) -> bool:
    return value


async def test_periodic_health_reports_are_recorded_in_batches(hq: Hq):
    """~170 reports a second from 10 000 nodes: one transaction each was more than HQ could record."""
    from hq_server.storage.tables import NodeSample
    from loaxa_contract.models import NodeHealth

    n, t = 300, now()
    async with hq.app[DB].sessions() as s:
        await s.execute(insert(Node), [{"id": f"loa-{i:04d}", "zones": [], "state": "online", "state_since": t,
                                        "registered": True} for i in range(n)])
        await s.commit()
    router, metrics = hq.orch.router, hq.orch.metrics
    messages = [(topics.node_health(COMMUNE, f"loa-{i:04d}"),
                 codec.encode(NodeHealth(node=f"loa-{i:04d}", uptime_s=float(r * 60 + i), cpu_temp_c=40.0 + r)))
                for r in range(2) for i in range(n)]
    forged = (topics.node_health(COMMUNE, "loa-0001"), codec.encode(NodeHealth(node="loa-0002", uptime_s=1.0)))
    batches = metrics.get("loaxa_hq_inbound_batches_total", kind="node_health")
    await asyncio.wait_for(asyncio.gather(*(router.on_message(tp, p) for tp, p in [*messages, forged])), 120)
    used = metrics.get("loaxa_hq_inbound_batches_total", kind="node_health") - batches
    assert 1 <= used <= len(messages) / 50, used
    assert metrics.get("loaxa_hq_inbound_refused_total", reason="identity_mismatch", kind="node_health") == 1
    async with hq.app[DB].sessions() as s:
        nodes = (await s.scalars(select(Node).where(Node.id.like("loa-%")))).all()
        assert {node.last_health["cpu_temp_c"] for node in nodes} == {41.0}  # the later report of each node
        assert {node.last_uptime_s for node in nodes} == {float(60 + i) for i in range(n)}
        assert await s.scalar(select(func.count()).select_from(NodeSample)) == 2 * n


async def test_births_are_recorded_in_batches_and_claimed_zones_registered_once(hq: Hq):
    """After a broker restart every node sends its birth at once: one transaction per birth (plus one
    query per claimed zone, plus the online hooks' own) was ~45 births a CPU second."""
    from loaxa_contract.models import NodeState

    n = 300
    router, metrics = hq.orch.router, hq.orch.metrics
    births = [(topics.build(topics.TopicKind.NODE_STATE, COMMUNE, node=f"loa-{i:04d}"),
               codec.encode(NodeState(node=f"loa-{i:04d}", state="online", zones=[f"thon-{i % 3 + 1}"])))
              for i in range(n)]
    will = (topics.build(topics.TopicKind.NODE_STATE, COMMUNE, node="loa-0007"),
            codec.encode(NodeState(node="loa-0007", state="offline")))  # online then offline in one batch
    batches = metrics.get("loaxa_hq_inbound_batches_total", kind="node_state")
    await asyncio.wait_for(asyncio.gather(*(router.on_message(tp, p) for tp, p in [*births, will])), 120)
    used = metrics.get("loaxa_hq_inbound_batches_total", kind="node_state") - batches
    assert 1 <= used <= n / 50, used
    async with hq.app[DB].sessions() as s:
        states = dict((await s.execute(select(Node.id, Node.state).where(Node.id.like("loa-%")))).all())
        zones = set((await s.scalars(select(Zone.slug))).all())
    assert len(states) == n and states.pop("loa-0007") == "offline" and set(states.values()) == {"online"}
    assert {"thon-1", "thon-2", "thon-3"} <= zones


async def test_a_connecting_fleet_interleaving_births_and_reports_is_still_batched(hq: Hq):
    """Each node sends its birth then its reconnect report, interleaved with every other node's: batches of
    one kind held one message each (a 10 000-node fleet left HQ 135 000 messages behind)."""
    from loaxa_contract.models import NodeHealth, NodeState

    n = 200
    router, metrics = hq.orch.router, hq.orch.metrics
    messages = []
    for i in range(n):
        node = f"loa-{i:04d}"
        messages.append((topics.build(topics.TopicKind.NODE_STATE, COMMUNE, node=node),
                         codec.encode(NodeState(node=node, state="online", zones=["thon-1"]))))
        messages.append((topics.node_health(COMMUNE, node), codec.encode(NodeHealth(node=node, uptime_s=3.0,
                                                                                    bulletins=[]))))
    before = {k: metrics.get("loaxa_hq_inbound_batches_total", kind=k) for k in ("node_state", "node_health")}
    await asyncio.wait_for(asyncio.gather(*(router.on_message(tp, p) for tp, p in messages)), 120)
    used = {k: metrics.get("loaxa_hq_inbound_batches_total", kind=k) - v for k, v in before.items()}
    assert all(1 <= u <= n / 20 for u in used.values()), used
    async with hq.app[DB].sessions() as s:
        rows = (await s.execute(select(Node.state, Node.last_uptime_s).where(Node.id.like("loa-%")))).all()
    assert len(rows) == n and set(rows) == {("online", 3.0)}  # birth applied, then the report on the same row


def test_a_node_message_joins_a_batch_only_if_it_stays_behind_what_that_node_sent_before():
    state, ack, health = topics.TopicKind.NODE_STATE, topics.TopicKind.NODE_ACK, topics.TopicKind.NODE_HEALTH
    latest: dict[str, int] = {}
    # a reconnecting node, in the order it sends: birth, outbox acks, reconnect report
    assert all(joins_in_order(latest, "a-1", kind) for kind in (state, ack, ack, health))
    assert joins_in_order(latest, "b-1", state) and joins_in_order(latest, "b-1", ack)  # another node: its own
    assert not joins_in_order(latest, "a-1", ack)  # an ack a-1 sent after its report: the next batch
    assert not joins_in_order(latest, "a-1", state)  # a-1 reconnected again: the next batch
    assert joins_in_order(latest, "b-1", ack)  # b-1 has nothing later in the batch
    assert joins_in_order(latest, "a-1", health) and joins_in_order(latest, None, ack)


async def test_a_nodes_report_is_recorded_before_the_acks_it_sent_after_it(hq: Hq, monkeypatch):
    """A node back online reports what it holds, then acks what HQ sends it (its programme): recorded the
    other way round, the report contradicts the ack just applied (HQ saw a programme lost and re-sent it)."""
    from loaxa_contract.models import NodeHealth

    router, recorded = hq.orch.router, []
    for name in ("_acks", "_batch"):
        original = getattr(router, name)

        async def record(group, original=original):
            recorded.extend((i.parsed.kind.value, i.parsed.node) for i in group)
            await original(group)
        monkeypatch.setattr(router, name, record)

    def report(node: str) -> tuple[str, bytes]:
        return topics.node_health(COMMUNE, node), codec.encode(NodeHealth(node=node, uptime_s=3.0, bulletins=[]))

    def ack(node: str) -> tuple[str, bytes]:
        return topics.node_ack(COMMUNE, node), codec.encode(Ack(node=node, command_id="programme-1",
                                                                bulletin_id=None, stage=AckStage.PLAYED))

    sent = [report("a-1"), ack("b-1"), report("b-1"), ack("a-1")]  # each node's messages in its own order
    await asyncio.wait_for(asyncio.gather(*(router.on_message(tp, p) for tp, p in sent)), 60)
    a1 = [kind for kind, node in recorded if node == "a-1"]
    b1 = [kind for kind, node in recorded if node == "b-1"]
    assert a1 == ["node_health", "node_ack"] and b1 == ["node_ack", "node_health"], recorded


async def test_an_ack_hq_cannot_apply_does_not_hold_back_the_rest_of_its_batch(hq: Hq, caplog):
    """A batch that fails for another reason than the database being down is applied ack by ack: the
    failing one is logged (and acknowledged to the broker: redelivering it would fail the same way)."""
    bid, commands = await _broadcast(hq, 20)
    router = hq.orch.router
    ingest = router.ingester.ingest

    async def failing_for_one_node(session, batch):
        if any(node == "loa-0003" for node, _ in batch):
            raise RuntimeError("a row HQ cannot apply")
        return await ingest(session, batch)

    router.ingester.ingest = failing_for_one_node
    await asyncio.wait_for(asyncio.gather(*[router.on_message(t, p) for t, p in _acks(bid, commands)]), 60)
    states = {node: d["state"] for node, d in (await hq.deliveries(bid)).items()}
    assert states.pop("loa-0003") == "pending"
    assert set(states.values()) == {"played"}, states
    assert "ack on loaxa/v1/" in caplog.text and "not recorded" in caplog.text


@pytest.mark.postgres
async def test_two_processes_closing_the_last_deliveries_at_once_finish_the_bulletin(start_hq, postgres_url):
    """Two HQ processes (two transactions here) record the last two ``played`` acks of a bulletin at the
    same moment. Each counted the other's delivery as still open (not yet committed), so neither finished
    the bulletin and it stayed ``active`` for good. The second now waits for the first to commit."""
    hq = await start_hq(await fresh_postgres_db(postgres_url, "hq_close_race"))
    bid, commands = await _broadcast(hq, 2)
    ingester, sessions = hq.orch.router.ingester, hq.app[DB].sessions
    t = datetime.now(UTC)
    first, second = (
        (node, Ack(node=node, command_id=command_id, bulletin_id=bid, stage=AckStage.PLAYED, started_at=t,
                   ended_at=t, duration_s=3.0)) for node, command_id in sorted(commands.items()))

    async def ingest_and_commit(session, ack) -> None:
        await ingester.ingest(session, [ack])
        await session.commit()

    async with sessions() as a, sessions() as b:
        await ingester.ingest(a, [first])  # process A: recorded, not committed yet
        other = asyncio.create_task(ingest_and_commit(b, second))  # process B meanwhile

        async def b_counted_or_waits() -> bool:
            if other.done():
                return True
            async with sessions() as probe:
                return bool(await probe.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")))

        await wait_async(b_counted_or_waits, 30, "process B counting the deliveries, or waiting to")
        await a.commit()
        await asyncio.wait_for(other, 30)
    b = await hq.wait_bulletin(bid, "completed", timeout=10)
    assert b["delivery_summary"] == {"played": 2}


async def test_a_fleet_reconnecting_with_nothing_on_air_is_reconciled_in_one_query(hq: Hq):
    """After a broker restart every node sends a reconnect report, nearly all "I hold nothing": with nothing
    on air they are settled together (and their settings checked together); one held bulletin (or one on air)
    and each is reconciled on its own."""
    from sqlalchemy import event

    from loaxa_contract.models import NodeHealth

    n, t = 50, now()
    async with hq.app[DB].sessions() as s:
        await s.execute(insert(Node), [{"id": f"loa-{i:04d}", "zones": [], "state": "online", "state_since": t,
                                        "registered": True} for i in range(n)])
        await s.commit()
    statements: list[str] = []
    me = asyncio.current_task()

    def count(conn, cursor, statement, *args) -> None:
        if asyncio.current_task() is me:
            statements.append(statement)

    async def statements_for(held: list[str] | None) -> int:
        statements.clear()
        engine = hq.app[DB].engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await hq.orch._on_health_batch([NodeHealth(node=f"loa-{i:04d}", uptime_s=5.0, bulletins=held)
                                            for i in range(n)])
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    reconciles = hq.orch.metrics.get("loaxa_hq_reconciles_total")
    periodic = await statements_for(None)  # the same batch without reconcile lists
    together = await statements_for([])
    assert hq.orch.metrics.get("loaxa_hq_reconciles_total") == reconciles + n
    assert together - periodic <= 2, (periodic, together)  # what is on air; settings to re-send
    one_by_one = await statements_for(["unknown-1"])  # each holds an id: each node's own reconcile
    assert one_by_one - periodic >= 2 * n, (periodic, one_by_one)
    assert hq.orch.metrics.get("loaxa_hq_reconciles_total") == reconciles + 2 * n
