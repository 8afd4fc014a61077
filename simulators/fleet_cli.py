"""``loaxa-sim fleet``: keep N simulated loudspeaker nodes attached to a running HQ until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from hq_server.broker import broker_dir, credential_store
from hq_server.config import HqConfig, load_config
from loaxa_common.process import stop_on_signals
from simulators.fleet import Fleet, FleetProgress
from simulators.fleet_plan import MAX_PER_PROCESS, process_count
from simulators.nodes import SimulatedLogins


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    f = sub.add_parser("fleet", help="N real edge agents (null sink) in several processes, attached to a running HQ")
    f.add_argument("--nodes", type=int, required=True, help="number of loudspeaker nodes")
    f.add_argument("--zones", type=int, default=20, help="villages (zones) they are spread over")
    f.add_argument("--hq-config", type=Path, required=True,
                   help="the running HQ's config file (its embedded broker must have a fixed port)")
    f.add_argument("--per-process", type=int, default=MAX_PER_PROCESS, help="agents per worker process")
    f.add_argument("--data-dir", type=Path, default=Path("var/fleet"), help="node state, secrets, worker logs")
    f.add_argument("--sink", default="null", choices=["null", "file"], help="audio sink of every node")


class ProgressPrinter:
    """One line per change on a terminal (rewritten in place); a line every few seconds in a log."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.tty = sys.stdout.isatty()
        self.every_s = every_s
        self.last = (-1, 0.0)

    def __call__(self, p: FleetProgress) -> None:
        now = time.monotonic()
        if p.online == self.last[0] and (self.tty or now - self.last[1] < self.every_s * 5):
            return
        if not self.tty and now - self.last[1] < self.every_s and p.online < p.total:
            return
        self.last = (p.online, now)
        line = (f"{p.online}/{p.total} nút đã kết nối (nodes online) — {p.processes} tiến trình (processes), "
                f"{p.elapsed_s:.1f} s")
        print(("\r" + line) if self.tty else line, end="" if self.tty and p.online < p.total else "\n", flush=True)


def broker_address(cfg: HqConfig) -> tuple[str, int]:
    if cfg.broker is not None:
        raise ValueError("fleet mô phỏng chỉ dùng với broker nhúng của HQ (the simulated fleet needs HQ's embedded "
                         "broker: its credential store issues the nodes' logins)")
    if not cfg.embedded_broker.port:
        raise ValueError("embedded_broker.port = 0: đặt một cổng cố định để các nút tìm được broker "
                         "(set a fixed port so the nodes can find the broker)")
    return "127.0.0.1", cfg.embedded_broker.port


def fleet_for(cfg: HqConfig, data_dir: Path, nodes: int, zones: int, per_process: int, sink: str = "null") -> Fleet:
    host, port = broker_address(cfg)
    pub = cfg.key_path.with_suffix(".pub")
    if not pub.exists():
        raise FileNotFoundError(f"{pub}: khóa công khai của HQ chưa có — chạy HQ một lần hoặc hq-server keygen "
                                f"(HQ's public key is missing: start HQ once or run hq-server keygen)")
    base = cfg.http.public_url or f"{cfg.http.scheme}://{cfg.http.host}:{cfg.http.port}"
    data_dir = data_dir.resolve()
    logins = SimulatedLogins(credential_store(cfg), data_dir / "secrets", broker_dir(cfg))
    return Fleet(data_dir, cfg.commune, port, pub, logins, nodes=nodes, zones=zones, per_process=per_process,
                 host=host, sink=sink, overrides={"audio__hq_url": base.rstrip("/")})


async def run_fleet(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.hq_config)
        fleet = fleet_for(cfg, args.data_dir, args.nodes, args.zones, args.per_process, args.sink)
    except (ValueError, FileNotFoundError) as err:
        print(f"lỗi (error): {err}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    print(f"khởi động {args.nodes} nút trong {process_count(args.nodes, args.per_process)} tiến trình "
          f"(starting {args.nodes} nodes in worker processes) → broker 127.0.0.1:{fleet.port}", flush=True)
    starting = asyncio.get_running_loop().create_task(fleet.start(ProgressPrinter()))
    stopping = asyncio.get_running_loop().create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            print("\nđang dừng (stopping)…", flush=True)
            starting.cancel()
            await asyncio.wait({starting})
            return 130
        if starting.exception() is not None:
            print(f"\nlỗi (error): {starting.exception()}", file=sys.stderr)
            return 1
        print(f"đội loa sẵn sàng (fleet ready): {fleet.total} nút, tiến trình (worker PIDs) "
              f"{', '.join(map(str, fleet.pids()))}. Ctrl-C để dừng (to stop).", flush=True)
        await stopping
        print("đang dừng các nút (stopping the nodes)…", flush=True)
        return 0
    finally:
        stopping.cancel()
        await fleet.stop()
        print("đã dừng (stopped).", flush=True)
