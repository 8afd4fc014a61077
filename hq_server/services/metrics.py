"""HQ's Prometheus metrics through ``prometheus_client`` (one registry per application).

Why the standard client rather than hand-written text: histograms (buckets, ``_sum``, ``_count``),
escaping and the exposition format come from the library every Prometheus server is tested against.
One :class:`~prometheus_client.CollectorRegistry` per :class:`Metrics` (not the process-wide default),
so several HQ applications in one process (the tests) never share or collide on a series.

What an operator watches during a broadcast, the same figures ``loaxa-sim bench fanout`` prints:

* ``loaxa_hq_submit_to_sent_seconds`` — from a bulletin being due (its creation, or its send time less
  the lead time) until every command for it is published;
* ``loaxa_hq_sent_to_received_seconds`` — per node, from the send until HQ ingests its ``received`` ack;
* ``loaxa_hq_received_to_played_seconds`` — per node, from ``received`` until ``played`` is ingested
  (this includes the lead time before the synchronised start, by design);
* ``loaxa_hq_acks_ingested_total`` — acks handled to the end (``rate()`` of it is acks per second);
* ``loaxa_hq_inbound_queue_depth`` — node messages waiting for HQ's inbound worker (a growing queue is
  HQ falling behind its fleet); ``loaxa_hq_inbound_read_pauses_total`` counts the times it was so far
  behind that HQ stopped reading from the broker until it caught up (the rest waited at the broker).

Counters keep the names of the earlier hand-written exposition; gauges read from the database are set
at each scrape (:meth:`Metrics.set_states`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import disable_created_metrics as _disable_created

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_disable_created()  # type: ignore[no-untyped-call]  # `_created` series double every counter's output and no LoaXa dashboard reads them

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0,
                   300.0, 600.0)
"""Seconds: a loopback round trip is a few ms, a 4G one a few hundred, a start lead 5–10 s."""

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loaxa_hq_bulletins_sent_total": ("Bulletins dispatched to nodes", ("priority",)),
    "loaxa_hq_commands_total": ("Signed commands published", ("type",)),
    "loaxa_hq_acks_total": ("Acks taken from the inbound queue, by stage", ("stage",)),
    "loaxa_hq_acks_ingested_total": ("Acks handled to the end (rate() = acks ingested per second)", ()),
    "loaxa_hq_resends_total": ("Bulletins re-sent to nodes that came back online", ()),
    "loaxa_hq_reconciles_total": ("Reconnect reports acted on", ()),
    "loaxa_hq_reconcile_cancels_total": ("Cancels sent for bulletins a node held but should not", ()),
    "loaxa_hq_inbound_received_total": ("Node messages received from the broker (acknowledged once recorded)", ()),
    "loaxa_hq_ack_batches_total": ("Transactions that recorded a batch of acks", ()),
    "loaxa_hq_inbound_batches_total": ("Transactions that recorded a batch of node messages other than acks "
                                       "(periodic health, births and last wills)", ("kind",)),
    "loaxa_hq_start_lead_short_total": ("Broadcasts whose publishing ended later than play_at less the lead", ()),
}

STATE_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "loaxa_hq_nodes_online": ("Nodes whose retained state is online", ()),
    "loaxa_hq_cameras": ("Cameras by status", ("status",)),
    "loaxa_hq_bulletins": ("Bulletins by state", ("state",)),
    "loaxa_hq_deliveries": ("Per-node deliveries by state", ("state",)),
    "loaxa_hq_mqtt_reconnects_total": ("MQTT reconnects of HQ's links (node messages in, commands out)", ()),
    "loaxa_hq_mqtt_connected": ("1 when both of HQ's MQTT links are connected", ()),
    "loaxa_hq_inbound_read_pauses_total": ("Times HQ stopped reading node messages, that many waiting unrecorded",
                                           ()),
    "loaxa_hq_leader": ("1 when this HQ process is the leader (dispatch, sweeper, retained topics)", ()),
}


def _base(name: str) -> str:
    """prometheus_client names a counter without ``_total`` and adds it to the sample."""
    return name[:-len("_total")] if name.endswith("_total") else name


class Metrics:
    """Counters, histograms and gauges of one HQ application, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        for name, (doc, labels) in COUNTERS.items():
            self._counter(name, doc, labels)
        self._gauges = {name: Gauge(name, doc, labels, registry=self.registry)
                        for name, (doc, labels) in STATE_GAUGES.items()}
        self.submit_to_sent = self._histogram("loaxa_hq_submit_to_sent_seconds",
                                              "Bulletin due → every command published")
        self.sent_to_received = self._histogram("loaxa_hq_sent_to_received_seconds",
                                                "Per node: bulletin sent → its received ack ingested")
        self.received_to_played = self._histogram("loaxa_hq_received_to_played_seconds",
                                                  "Per node: received ack → played ack ingested (includes the lead "
                                                  "time before the synchronised start)")
        self.inbound_queue = Gauge("loaxa_hq_inbound_queue_depth", "Node messages waiting for HQ's inbound worker",
                                   registry=self.registry)

    def _counter(self, name: str, doc: str, labels: Iterable[str]) -> Counter:
        counter = Counter(_base(name), doc, tuple(labels), registry=self.registry)
        self._counters[name] = counter
        return counter

    def _histogram(self, name: str, doc: str) -> Histogram:
        return Histogram(name, doc, buckets=LATENCY_BUCKETS, registry=self.registry)

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        """Add to counter ``name`` (declared in :data:`COUNTERS`, or created at first use with these labels)."""
        counter = self._counters.get(name) or self._counter(name, name, sorted(labels))
        (counter.labels(**labels) if labels else counter).inc(value)

    def get(self, name: str, **labels: str) -> float:
        """Current value of a sample (0 if it has none yet): what tests read."""
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def bind_queue(self, depth: Callable[[], int]) -> None:
        """Read the inbound queue depth at each scrape (no bookkeeping on the hot path)."""
        self.inbound_queue.set_function(lambda: float(depth()))

    def set_states(self, values: dict[str, list[tuple[dict[str, str], float]]]) -> None:
        """Replace the state gauges (read from the database at a scrape): label sets not given disappear."""
        for name, samples in values.items():
            gauge = self._gauges[name]
            if STATE_GAUGES[name][1]:
                gauge.clear()
                for labels, value in samples:
                    gauge.labels(**labels).set(value)
            else:
                gauge.set(samples[0][1] if samples else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def observe_seconds(histogram: Histogram, seconds: Any) -> None:
    """Observe a duration, never a negative one (clocks of different hosts, a send time in the future)."""
    histogram.observe(max(0.0, float(seconds)))
