"""One worker process of a simulated fleet: up to ~1 000 nodes on one event loop.

Started by :class:`simulators.fleet.Fleet` as ``python -m simulators.fleet_worker SPEC.json`` in its own
session (a Ctrl-C in the terminal reaches only the parent, which stops the workers by PID in order).
Two modes:

* ``agents`` — real edge agents (:class:`edge_agent.app.EdgeAgent`: the gate with its signature check,
  the persistent replay guard and bulletin store, the player, the scheduler); only the sound card
  (sink) and the amplifier relay are simulated.
* ``echo`` — the bare-broker baseline: per node one MQTT client with the same library, login and
  subscriptions as an agent, which answers every command with one ``received`` ack on its own ack
  topic and does nothing else.

Talks to the parent in JSON lines: it prints ``progress`` / ``ready`` / ``error`` / replies on stdout,
and reads commands on stdin (``probe-reset``, ``probe``, ``stats``, ``stop``). End of stdin (the parent
died) or SIGTERM/SIGINT stops every node cleanly and exits.

The probe records, per node, the wall-clock time each command reached the node's handler: with the
broker's and the acks' own timestamps it splits a round trip into broker time and node time. A loop
monitor (:class:`LoopLag`) ticks every 10 ms and records how late each tick ran and the process's CPU
time (``lag`` command): a simulated node's start is late by at least the time the shared loop spent on
the other nodes, which a real node, alone on its board, does not have.

Thread pools are left as a real node has them (the loop's default pool, two preparation threads), shared
by every node of the worker: widening them (32 + 8 threads) was measured to make starts later, not
earlier — the threads take the interpreter lock from the one event loop that carries every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage

logger = logging.getLogger("simulators.fleet_worker")

MessageHandler = Callable[[str, bytes], Awaitable[None] | None]

LAG_TICK_S = 0.01
LAG_MAX_SAMPLES = 200_000


class LoopLag:
    """Every ``LAG_TICK_S``: (wall time, how late the tick ran, process CPU seconds) since the last reset."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            self.samples.append((time.time(), max(0.0, loop.time() - due), time.process_time()))
            if len(self.samples) > LAG_MAX_SAMPLES:
                del self.samples[:LAG_MAX_SAMPLES // 2]

    def reset(self) -> None:
        self.samples.clear()


class Probe:
    """Arrival times (``time.time()``) of commands at each node's handler; the first per node since a reset."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.count = 0

    def reset(self) -> None:
        self.first.clear()
        self.count = 0

    def wrap(self, node: str, handler: MessageHandler) -> MessageHandler:
        def timed(topic: str, payload: bytes) -> Awaitable[None] | None:
            self.first.setdefault(node, time.time())
            self.count += 1
            return handler(topic, payload)

        return timed


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"ev": event, **fields}) + "\n")
    sys.stdout.flush()


def process_stats() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_kb = 0
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"pid": os.getpid(), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "rss_kb": rss_kb,
            "fds": len(os.listdir("/proc/self/fd"))}


class AgentNodes:
    """Real edge agents, started in batches so a big fleet does not stampede the broker."""

    def __init__(self, spec: dict[str, Any], probe: Probe) -> None:
        self.spec = spec
        self.probe = probe
        self.agents: list[Any] = []

    async def start(self, on_progress: Callable[[int], None]) -> None:
        from edge_agent.app import EdgeAgent
        from simulators.nodes import simulated_node_config

        s = self.spec
        base = Path(s["base_dir"])
        nodes = s["nodes"]
        for i in range(0, len(nodes), s["batch"]):
            started = []
            for n in nodes[i:i + s["batch"]]:
                cfg = simulated_node_config(base, node_id=n["node"], commune=s["commune"], zones=[n["zone"]],
                                            port=s["port"], hq_public_key=Path(s["hq_public_key"]), sink=s["sink"],
                                            broker__host=s["host"], broker__username=n["node"],
                                            broker__password_file=n["password_file"], **s["overrides"])
                agent = EdgeAgent(cfg)
                agent.link._on_message_cb = self.probe.wrap(n["node"], agent.link._on_message_cb)
                await agent.start()
                self.agents.append(agent)
                started.append(agent)
            await asyncio.gather(*(a.link.wait_ready(s["ready_timeout"]) for a in started))
            on_progress(len(self.agents))

    async def stop(self) -> list[BaseException]:
        results = await asyncio.gather(*(a.stop() for a in self.agents), return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException)]


class EchoNodes:
    """Bare MQTT clients with the nodes' logins and subscriptions; each answers a command with one ack."""

    def __init__(self, spec: dict[str, Any], probe: Probe) -> None:
        self.spec = spec
        self.probe = probe
        self.links: list[Any] = []

    def _handler(self, node: str, link_ref: list[Any]) -> MessageHandler:
        commune = self.spec["commune"]
        ack_topic = topics.node_ack(commune, node)

        async def answer(topic: str, payload: bytes) -> None:
            # an ack of the same size and encoding as a node's `received`: the same bytes on the wire
            ack = Ack(node=node, command_id=f"echo-{len(payload)}", stage=AckStage.RECEIVED)
            await link_ref[0].publish(ack_topic, codec.encode(ack))

        return answer

    async def start(self, on_progress: Callable[[int], None]) -> None:
        from loaxa_link.mqtt import LinkConfig, MqttLink

        s = self.spec
        for i in range(0, len(s["nodes"]), s["batch"]):
            started = []
            for n in s["nodes"][i:i + s["batch"]]:
                node = n["node"]
                password = Path(n["password_file"]).read_text("utf-8").strip()
                ref: list[Any] = []
                link = MqttLink(LinkConfig(
                    host=s["host"], port=s["port"], client_id=f"loaxa-{s['commune']}-{node}-echo", username=node,
                    password=password, subscriptions=topics.node_command_filters(s["commune"], node, [n["zone"]]),
                    session_expiry_s=60), on_message=self.probe.wrap(node, self._handler(node, ref)))
                ref.append(link)
                await link.start()
                self.links.append(link)
                started.append(link)
            await asyncio.gather(*(link.wait_ready(s["ready_timeout"]) for link in started))
            on_progress(len(self.links))

    async def stop(self) -> list[BaseException]:
        results = await asyncio.gather(*(link.stop() for link in self.links), return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException)]


async def _commands(stop: asyncio.Event, probe: Probe, lag: LoopLag, nodes: list[str]) -> None:
    """Serve the parent's commands on stdin until ``stop`` or end of input (the parent is gone)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        line = (await reader.readline()).decode().strip()
        if not line or line == "stop":
            stop.set()
        elif line == "probe-reset":
            probe.reset()
            lag.reset()
            emit("probe-reset")
        elif line == "lag":
            emit("lag", nodes=nodes, samples=[[round(t, 4), round(v, 5), round(c, 3)] for t, v, c in lag.samples])
        elif line == "probe":
            emit("probe", first=probe.first, count=probe.count)
        elif line == "stats":
            emit("stats", **process_stats())
        else:
            emit("error", msg=f"unknown command {line!r}")


async def run(spec: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    probe = Probe()
    nodes: AgentNodes | EchoNodes = (AgentNodes if spec["mode"] == "agents" else EchoNodes)(spec, probe)
    lag = LoopLag()
    lag_task = loop.create_task(lag.run(), name="fleet-worker:loop-lag")
    commands = loop.create_task(_commands(stop, probe, lag, [n["node"] for n in spec["nodes"]]),
                                name="fleet-worker:commands")
    code = 0
    try:
        starting = loop.create_task(nodes.start(lambda n: emit("progress", online=n)))
        stopped = loop.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is not None:
            err = starting.exception()
            emit("error", msg=f"{type(err).__name__}: {err}")
            code = 1
        elif starting.done():
            emit("ready", **process_stats())
            await stop.wait()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        stopped.cancel()
    finally:
        errors = await nodes.stop()
        for err in errors[:5]:
            logger.warning("a node stopped with %s: %s", type(err).__name__, err)
        commands.cancel()
        lag_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await commands
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await lag_task
        emit("stopped", errors=len(errors))
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text("utf-8"))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(spec))


if __name__ == "__main__":
    sys.exit(main())
