"""A simulated fleet of N loudspeaker nodes in several worker processes (``loaxa-sim fleet``).

Why processes: one event loop carries about a thousand agents (one socket and ~1 open file each); a
province-sized fleet of 10 000 needs ten loops, and on a 2-core machine the kernel shares the cores
between them. Each worker is a child process in its own session
(:mod:`simulators.fleet_worker`), started and stopped by PID: a Ctrl-C reaches this process only,
which stops the workers (SIGTERM: every agent publishes ``offline`` and disconnects), waits, and kills
any that did not finish. A worker whose parent died sees its stdin close and stops itself.

Nodes are provisioned exactly as the demo provisions its village: each gets its own broker credential
in HQ's credential store (:class:`~simulators.nodes.SimulatedLogins`), and the running broker reloads
once for the whole fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simulators.fleet_plan import MAX_PER_PROCESS, NodeSpec, plan_nodes, process_count, shard
from simulators.nodes import SimulatedLogins

logger = logging.getLogger(__name__)

Mode = Literal["agents", "echo"]


class FleetError(RuntimeError):
    """A worker failed to start its nodes (the message carries the end of its log)."""


@dataclass
class Worker:
    index: int
    proc: asyncio.subprocess.Process
    log_path: Path
    online: int = 0
    ready: dict[str, Any] | None = None
    error: str | None = None
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text("utf-8", errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class FleetProgress:
    online: int
    total: int
    processes: int
    elapsed_s: float


@dataclass
class Fleet:
    """N nodes (``agents`` or bare ``echo`` clients) over worker processes of at most ``per_process``."""

    base_dir: Path
    commune: str
    port: int
    hq_public_key: Path
    logins: SimulatedLogins
    nodes: int
    zones: int = 20
    per_process: int = MAX_PER_PROCESS
    mode: Mode = "agents"
    host: str = "127.0.0.1"
    sink: str = "null"
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config overrides for every agent, ``section__field`` keys (e.g. ``audio__hq_url``)."""
    batch: int = 50
    ready_timeout_s: float = 120.0
    workers: list[Worker] = field(default_factory=list)
    specs: list[NodeSpec] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.specs)

    @property
    def online(self) -> int:
        return sum(w.online for w in self.workers)

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    async def start(self, progress: Callable[[FleetProgress], None] | None = None,
                    timeout_s: float = 1800.0) -> None:
        """Provision, start every worker, return once every node is connected and subscribed.

        :class:`FleetError` (after stopping what started) if a worker fails or ``timeout_s`` passes.
        """
        self.specs = plan_nodes(self.nodes, self.zones)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        logins = await asyncio.to_thread(self.logins.ensure, {s.node: [s.zone] for s in self.specs})
        t0 = time.monotonic()
        try:
            for i, part in enumerate(shard(self.specs, process_count(self.nodes, self.per_process))):
                spec = self._worker_spec(part, logins)
                self.workers.append(await self._spawn(i, spec))
            await self._wait_ready(progress, t0, timeout_s)
        except BaseException:
            await self.stop()
            raise

    def _worker_spec(self, part: list[NodeSpec], logins: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "mode": self.mode, "commune": self.commune, "host": self.host, "port": self.port,
            "hq_public_key": str(self.hq_public_key), "base_dir": str(self.base_dir / "nodes"), "sink": self.sink,
            "overrides": self.overrides, "batch": self.batch, "ready_timeout": self.ready_timeout_s,
            "nodes": [{"node": s.node, "zone": s.zone, "password_file": logins[s.node]["broker__password_file"]}
                      for s in part],
        }

    async def _spawn(self, index: int, spec: dict[str, Any]) -> Worker:
        spec_path = self.base_dir / f"worker-{index}.json"
        spec_path.write_text(json.dumps(spec), "utf-8")
        log_path = self.base_dir / f"worker-{index}.log"
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "simulators.fleet_worker", str(spec_path),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                start_new_session=True, limit=64 * 1024 * 1024)
        worker = Worker(index, proc, log_path)
        worker.reader = asyncio.get_running_loop().create_task(self._read(worker), name=f"fleet:worker-{index}")
        return worker

    async def _read(self, worker: Worker) -> None:
        assert worker.proc.stdout is not None
        try:
            async for raw in worker.proc.stdout:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                ev = msg.get("ev")
                if ev == "progress":
                    worker.online = int(msg["online"])
                elif ev == "ready":
                    worker.ready = msg
                elif ev == "error" and worker.ready is None:
                    worker.error = str(msg.get("msg"))
                else:
                    worker.replies.put_nowait(msg)
        finally:
            worker.exited.set()

    async def _wait_ready(self, progress: Callable[[FleetProgress], None] | None, t0: float,
                          timeout_s: float) -> None:
        deadline = t0 + timeout_s
        while True:
            for w in self.workers:
                if w.error is not None or (w.exited.is_set() and w.ready is None):
                    raise FleetError(f"tiến trình mô phỏng {w.index} (pid {w.pid}) lỗi (worker failed): "
                                     f"{w.error or 'exited'}\n{w.log_tail()}")
            if progress is not None:
                progress(FleetProgress(self.online, self.total, len(self.workers), time.monotonic() - t0))
            if all(w.ready is not None for w in self.workers):
                return
            if time.monotonic() > deadline:
                raise FleetError(f"only {self.online}/{self.total} nodes online after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)

    async def command(self, command: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Send ``command`` to every worker; their replies, in worker order."""
        for w in self.workers:
            assert w.proc.stdin is not None
            w.proc.stdin.write(command.encode() + b"\n")
            await w.proc.stdin.drain()
        async with asyncio.timeout(timeout_s):
            return [await w.replies.get() for w in self.workers]

    async def probe_reset(self) -> None:
        await self.command("probe-reset")

    async def probe(self) -> dict[str, float]:
        """Per node, when the first command since the last reset reached its handler (epoch seconds)."""
        first: dict[str, float] = {}
        for reply in await self.command("probe"):
            first.update(reply.get("first") or {})
        return first

    async def loop_lag(self) -> list[dict[str, Any]]:
        """Per worker since the last probe reset: its nodes and its loop monitor's samples
        ``[wall time, lag s, CPU s]`` (see :class:`simulators.fleet_worker.LoopLag`)."""
        return await self.command("lag")

    async def stats(self) -> list[dict[str, Any]]:
        """CPU seconds, RSS and open files of each worker process."""
        return await self.command("stats")

    async def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM each worker by PID, wait up to ``timeout_s``, SIGKILL those still running."""
        for w in self.workers:
            if w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGTERM)
        for w in self.workers:
            try:
                await asyncio.wait_for(w.proc.wait(), timeout_s)
            except TimeoutError:
                logger.warning("fleet worker %d (pid %d) did not stop in %.0f s; killed", w.index, w.pid, timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGKILL)
                await w.proc.wait()
            if w.proc.stdin is not None:
                w.proc.stdin.close()
            if w.reader is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(w.reader, 5)
        self.workers.clear()
