"""Every node → HQ message, from the broker to its handler, recorded before the broker hears "got it".

**Generated from the topic table.** The inbound kinds are the rows of :data:`loaxa_contract.topics.TOPICS`
a node publishes; the router refuses to start without a handler for each (a new topic cannot be
forgotten), and its subscriptions are built from the same rows.

**Durable.** HQ's MQTT session is persistent and acknowledges manually: :meth:`InboundRouter.on_message`
returns a future that resolves only once the message's effect is committed, and only then does the link
send the PUBACK. A process killed at any point gets every message it had not committed again from its
session (the first version acknowledged on arrival and queued in memory: killing HQ just after 60 nodes
acked ``played`` left up to half of them recorded ``expired``). A message is handled at least once, so
handlers are idempotent.

**Batched.** Consecutive acks are ingested together — up to :data:`BATCH_MAX`, waiting at most
:data:`BATCH_WAIT_S` for more — in one transaction (:class:`~hq_server.services.ack_ingest.AckIngester`);
so are consecutive messages of a kind the owner gives a :class:`Batcher` for: health reports
(every node sends one a minute: ~170 a second from 10 000 nodes, more than HQ recorded one transaction
each — measured ~140 a CPU second), reconnect reports, and node births/last wills (10 000 at once after a
broker restart). Other messages (cameras) are handled one at a time, in arrival order between the batches.

**Failures.** A message HQ cannot read or does not believe is acknowledged (it would fail the same way
on every redelivery) and logged, counted, alerted by the caller's ``on_refused``. When the database
fails, the batch is retried with backoff and nothing is acknowledged meanwhile: the broker keeps the rest
(at most the session's receive maximum is in flight). A batch that fails for another reason is split
into single messages so one bad message cannot hold back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services.ack_ingest import AckIngester
from hq_server.services.inbound import InboundRefused, check_identity
from hq_server.services.metrics import Metrics
from loaxa_contract import codec, topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import Ack, Envelope

logger = logging.getLogger(__name__)

INBOUND: tuple[topics.TopicKind, ...] = tuple(s.kind for s in topics.TOPICS.values() if s.publisher == "node")
"""Every topic kind a node publishes: what HQ subscribes to and must handle."""
BATCH_MAX = 500
BATCH_WAIT_S = 0.005
RETRIES_BEFORE_SPLIT = 3
BACKOFF_MAX_S = 10.0

Handler = Callable[[topics.ParsedTopic, bytes], Awaitable[None]]


@dataclass(frozen=True)
class Batcher:
    """How messages of one topic kind are recorded many at a time: their model, and the handler that
    records a batch of them (already decoded and checked against their topics) in one transaction."""

    model: type[Envelope]
    handle: Callable[[Sequence[Any]], Awaitable[None]]
RefusedHook = Callable[[str, InboundRefused], Awaitable[None]]


SHARED: tuple[topics.TopicKind, ...] = tuple(k for k in INBOUND if not topics.TOPICS[k].retained)
"""Consumed through a shared subscription: each message handled by one HQ process."""
LEADER: tuple[topics.TopicKind, ...] = tuple(k for k in INBOUND if topics.TOPICS[k].retained)
"""Retained topics (state): the broker gives no retained value to a shared subscription, and their order
matters, so one process (the leader) subscribes to them plainly."""


def share_group(commune: str) -> str:
    return f"loaxa-hq-{commune}"


def subscriptions(commune: str) -> list[str]:
    """One plain filter per inbound kind, from the topic table (one HQ process: it gets every message)."""
    return [topics.filter_for(kind, commune) for kind in INBOUND]


def shared_subscriptions(commune: str, leader: bool) -> list[str]:
    """Several HQ processes: the shared filters always, the retained kinds' plain filters when leading."""
    shared = [f"$share/{share_group(commune)}/{topics.filter_for(k, commune)}" for k in SHARED]
    return shared + ([topics.filter_for(k, commune) for k in LEADER] if leader else [])


def stale_filters(commune: str, leader: bool) -> list[str]:
    """Filters a persistent session may still hold from before (a single HQ subscribed to every node topic
    plainly; a former leader to the retained ones) and that would deliver messages twice: unsubscribed."""
    plain = [topics.filter_for(k, commune) for k in SHARED]
    return plain + ([] if leader else [topics.filter_for(k, commune) for k in LEADER])


_ORDER = (topics.TopicKind.NODE_STATE, topics.TopicKind.NODE_ACK, topics.TopicKind.NODE_HEALTH)


def _batch_order(kind: topics.TopicKind | None) -> int:
    """A connecting node sends its birth, then the acks in its outbox, then its reconnect report (which HQ
    reconciles against the acks): a mixed batch is recorded in that order."""
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


def joins_in_order(latest: dict[str, int], node: str | None, kind: topics.TopicKind | None) -> bool:
    """Whether a node's next message can join a batch recorded kind by kind (:func:`_batch_order`) without
    being applied before a message that node sent earlier; ``latest`` (node → the latest kind's order it
    has in the batch) is updated when it can.

    A node does not always send in that order: its reconnect report goes out before the acks of the
    commands HQ sends it once it is back (its programme, say). Recorded acks first, the report would look
    like a node that lost what it had just applied, and HQ would send it again."""
    order = _batch_order(kind)
    if node is not None and order < latest.get(node, -1):
        return False
    if node is not None:
        latest[node] = max(order, latest.get(node, -1))
    return True


def _node_of(item: Item) -> str | None:
    return item.parsed.node if item.parsed is not None else None


class MissingHandler(RuntimeError):
    pass


@dataclass
class Item:
    topic: str
    payload: bytes
    done: asyncio.Future[None]
    parsed: topics.ParsedTopic | None = None
    ack: Ack | None = None
    msg: Any = None
    """Decoded for a :class:`Batcher` that takes it."""

    @property
    def batch(self) -> topics.TopicKind | None:
        """Which batch the message can join, if any."""
        return self.parsed.kind if self.parsed is not None and (self.ack or self.msg) is not None else None


def _unavailable(err: BaseException) -> bool:
    """The database is down or busy (retry), as opposed to a message HQ cannot apply."""
    return isinstance(err, OperationalError | InterfaceError) or (
        isinstance(err, DBAPIError) and bool(err.connection_invalidated))


class InboundRouter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], handlers: dict[topics.TopicKind, Handler],
                 ingester: AckIngester, on_refused: RefusedHook, metrics: Metrics,
                 batchers: dict[topics.TopicKind, Batcher] | None = None) -> None:
        missing = [k.value for k in INBOUND if k not in handlers and k != topics.TopicKind.NODE_ACK]
        if missing:
            raise MissingHandler(f"no handler for inbound topic kind(s): {', '.join(missing)}")
        self.sessions = sessions
        self.handlers = handlers
        self.ingester = ingester
        self.batchers = batchers or {}
        self.on_refused = on_refused
        self.metrics = metrics
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._next: Item | None = None
        self._task: asyncio.Task[None] | None = None
        self.processed = 0
        """Messages handled to the end (tests wait on it)."""
        metrics.bind_queue(self.depth)

    def depth(self) -> int:
        return self._queue.qsize() + (self._next is not None)

    # ------------------------------------------------------------------ from the link

    def on_message(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        """Queue a message; the returned future resolves once it is recorded (the link then acknowledges it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Item(topic, payload, done))
        self.metrics.inc("loaxa_hq_inbound_received_total")
        return done

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hq:inbound")

    async def stop(self) -> None:
        """Stop handling; what was not recorded stays unacknowledged (the broker delivers it again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending = [self._next] if self._next is not None else []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            item.done.cancel()
        self._next = None

    # ------------------------------------------------------------------ worker

    async def _take(self) -> Item:
        if self._next is not None:
            item, self._next = self._next, None
            return item
        return await self._queue.get()

    async def _run(self) -> None:
        while True:
            item = await self._take()
            if not await self._prepare(item):
                self._done([item])
                continue
            if item.batch is None:
                await self._single(item)
                continue
            batch = [item]
            await self._collect(batch)
            for kind in sorted({i.batch for i in batch}, key=_batch_order):
                group = [i for i in batch if i.batch == kind]
                await (self._acks(group) if kind == topics.TopicKind.NODE_ACK else self._batch(group))

    async def _collect(self, batch: list[Item]) -> None:
        """More batchable messages for this batch: what is queued, waiting up to BATCH_WAIT_S; stops at a
        message handled on its own (handled next, in arrival order).

        Kinds are mixed in one batch: a fleet connecting sends each node's birth, acks and reconnect report
        interleaved with the others', so batches of one kind would mostly hold one message. The batch is
        recorded kind by kind in the order a node sends them (:func:`_batch_order`: births and last wills,
        then acks, then health reports), so for any one node its messages are still applied in order; a
        message a node sent after one of a later kind (its reconnect report, then the acks of what HQ sent it
        once back) starts the next batch (:func:`joins_in_order`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_WAIT_S
        latest: dict[str, int] = {}
        for item in batch:
            joins_in_order(latest, _node_of(item), item.batch)
        while len(batch) < BATCH_MAX:
            try:
                nxt = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    async with asyncio.timeout(remaining):
                        nxt = await self._queue.get()
                except TimeoutError:
                    return
            if not await self._prepare(nxt):
                self._done([nxt])
                continue
            if nxt.batch is None or not joins_in_order(latest, _node_of(nxt), nxt.batch):
                self._next = nxt  # handled after this batch, in arrival order
                return
            batch.append(nxt)

    async def _prepare(self, item: Item) -> bool:
        """Parse the topic (and decode an ack, checking its sender); False when there is nothing to do."""
        try:
            item.parsed = topics.parse(item.topic)
            if item.parsed.kind == topics.TopicKind.NODE_ACK:
                ack = codec.decode_model(item.payload, Ack)
                check_identity(item.parsed, ack.node)
                item.ack = ack
            elif (batcher := self.batchers.get(item.parsed.kind)) is not None and item.payload:
                msg = codec.decode_model(item.payload, batcher.model)
                check_identity(item.parsed, str(getattr(msg, "node", "")))
                item.msg = msg
        except InboundRefused as refused:
            await self._refused(item.topic, refused)
            return False
        except (ContractError, ValueError) as err:
            logger.warning("ignored bad message on %s: %s", item.topic, err)
            self.metrics.inc("loaxa_hq_inbound_bad_total")
            return False
        return True

    def _done(self, items: Sequence[Item]) -> None:
        for item in items:
            if not item.done.done():
                item.done.set_result(None)
            self.processed += 1

    async def _refused(self, topic: str, refused: InboundRefused) -> None:
        """Log, count and (repeated) alert through the owner's hook; its failure never stops the worker."""
        try:
            await self.on_refused(topic, refused)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("reporting a refused message on %s failed", topic)

    # ------------------------------------------------------------------ handling

    async def _acks(self, batch: list[Item]) -> None:
        try:
            refusals = await self._ingest(batch)
        except Exception as err:  # one ack HQ cannot apply must not hold back the others: each on its own
            if len(batch) > 1:
                logger.warning("a batch of %d acks failed (%s): handling them one by one", len(batch), err)
            refusals = []
            for item in batch:
                try:
                    single = await self._ingest([item])
                except Exception:
                    logger.exception("ack on %s not recorded", item.topic)
                    single = [None]
                await self._report_all([item], single)
                self._done([item])
                refusals += single
        else:
            await self._report_all(batch, refusals)
            self._done(batch)
        self.metrics.inc("loaxa_hq_acks_ingested_total", sum(r is None for r in refusals))
        self.metrics.inc("loaxa_hq_ack_batches_total")

    async def _report_all(self, items: Sequence[Item], refusals: Sequence[InboundRefused | None]) -> None:
        for item, refused in zip(items, refusals, strict=True):
            if refused is not None:
                await self._refused(item.topic, refused)

    async def _ingest(self, batch: list[Item]) -> list[InboundRefused | None]:
        """Refusals per ack once committed; a conflict (PostgreSQL serialisation, deadlock) is retried a few
        times, an unavailable database until it is back; anything else is raised."""
        acks = [(item.parsed.node or "", item.ack) for item in batch if item.parsed and item.ack]
        refusals: list[InboundRefused | None] = []

        async def record() -> None:
            async with self.sessions() as session:
                refusals[:] = await self.ingester.ingest(session, acks)
                await session.commit()

        await self._retrying(record, f"{len(acks)} ack(s)", conflicts=RETRIES_BEFORE_SPLIT)
        return refusals

    async def _batch(self, batch: list[Item]) -> None:
        """Messages of one kind in one transaction; if the batch fails for another reason than the database
        being unavailable, each message on its own (one bad message must not hold back the others)."""
        kind = batch[0].batch
        assert kind is not None
        handle, what = self.batchers[kind].handle, f"{len(batch)} {kind.value} message(s)"
        try:
            await self._retrying(lambda: handle([item.msg for item in batch]), what)
        except Exception as err:
            logger.warning("a batch of %s failed (%s): handling them one by one", what, err)
            for item in batch:
                await self._single(item)
            return
        self.metrics.inc("loaxa_hq_inbound_batches_total", kind=kind.value)
        self._done(batch)

    async def _single(self, item: Item) -> None:
        """A message handled on its own, retried while the database is unavailable."""
        assert item.parsed is not None
        parsed = item.parsed
        try:
            await self._retrying(lambda: self.handlers[parsed.kind](parsed, item.payload), item.topic)
        except InboundRefused as refused:
            await self._refused(item.topic, refused)
        except ContractError as err:
            logger.warning("ignored bad message on %s: %s", item.topic, err)
        except Exception:
            logger.exception("failed to handle message on %s", item.topic)
        self._done([item])

    @staticmethod
    async def _retrying(work: Callable[[], Awaitable[None]], what: str, conflicts: int = 0) -> None:
        """``work()``, again with backoff while the database is unavailable (nothing is acknowledged to
        the broker meanwhile) and for the first ``conflicts`` other database errors; anything else is raised."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not (_unavailable(err) or (isinstance(err, DBAPIError) and attempt < conflicts)):
                    raise
                delay = min(BACKOFF_MAX_S, 0.05 * 2 ** min(attempt, 8))
                logger.warning("handling %s failed (%s); retrying in %.2fs", what, err, delay)
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ direct (tests, tools)

    async def handle_now(self, topic: str, payload: bytes) -> None:
        """Handle one message at once, outside the queue; a refusal is raised (:class:`InboundRefused`)."""
        parsed = topics.parse(topic)
        if parsed.kind != topics.TopicKind.NODE_ACK:
            await self.handlers[parsed.kind](parsed, payload)
            return
        ack = codec.decode_model(payload, Ack)
        node = check_identity(parsed, ack.node)
        async with self.sessions() as session:
            (refused,) = await self.ingester.ingest(session, [(node, ack)])
            await session.commit()
        if refused is not None:
            raise refused

