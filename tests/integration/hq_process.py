"""HQ as a real process (``hq-server run``) for kill tests: config file, start, readiness, kill by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from sqlalchemy import insert

from hq_server.storage.db import Database
from hq_server.storage.tables import Node, Zone, now
from loaxa_link.mosquitto import Mosquitto, free_port
from tests.conftest import COMMUNE
from tests.hq.fixtures import PASSWORD

EXE = Path(sys.executable).parent / "hq-server"


def port_outside_ephemeral_range() -> int:
    """A free port HQ keeps across its restarts. Not from the kernel's ephemeral range (what binding port 0
    gives): while HQ is down, any outgoing connection on the machine may take such a port, and the restarted
    HQ then finds it in use (seen while a 10 000-node fleet ran beside the tests)."""
    low, _ = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for port in random.Random().sample(range(10_000, max(10_200, low)), 200):
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port))
            return port
    return free_port()


@dataclass
class HqProcess:
    """One ``hq-server run`` against the test broker; ``instance`` names its MQTT session (several may share a
    database)."""

    root: Path
    broker: Mosquitto
    key: Path
    db_url: str
    instance: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def write_config(self) -> Path:
        self.port = self.port or port_outside_ephemeral_range()
        user, password = self.broker.credentials.hq_login()
        cfg: dict[str, Any] = {
            "commune": COMMUNE, "data_dir": str(self.root / "data"), "private_key": str(self.key),
            "http": {"host": "127.0.0.1", "port": self.port, "public_url": f"http://127.0.0.1:{self.port}"},
            "broker": {"port": self.broker.port, "username": user, "password": password},
            "database": {"url": self.db_url}, "metrics_public": True,
            "bulletins": {"lead_time_s": 1.0, "sweep_interval_s": 0.2, "tts_engines": ["espeak"]},
        }
        if self.instance:
            cfg["instance"] = self.instance
        for name, values in self.extra.items():
            cfg.setdefault(name, {}).update(values) if isinstance(values, dict) else cfg.__setitem__(name, values)
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "hq.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        return path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.write_config()
        self.log = self.root / f"hq-{len(list(self.root.glob('hq-*.log')))}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(EXE), "run", "--config", str(config)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """HTTP answers and HQ's MQTT link is connected (its metrics say so)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while loop.time() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.tail()
                try:
                    if (await self.metrics(http)).get("loaxa_hq_mqtt_connected") == 1:
                        return
                except (aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"HQ did not get ready: {self.tail()}")

    async def metrics(self, http: aiohttp.ClientSession) -> dict[str, float]:
        async with http.get(f"{self.url}/metrics") as resp:
            text = await resp.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value)
        return out

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"HQ did not exit: {self.tail()}") from None

    def stop(self) -> None:
        """Kill by PID (its whole session, which holds nothing else) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log and self.log.exists() else ""


async def seed(db_url: str, nodes: dict[str, str]) -> str:
    """Migrate, create an admin with an API token, register zones and online speaker nodes; the token."""
    from hq_server.services.users import create_user

    db = await Database(db_url).open()
    try:
        t = now()
        async with db.sessions() as s:
            token = await create_user(s, "admin-1", PASSWORD, "admin", with_token=True) or ""
            zones = sorted(set(nodes.values()))
            await s.execute(insert(Zone), [{"slug": z, "name": z, "created_by": "test", "created_at": t,
                                            "updated_at": t} for z in zones])
            await s.execute(insert(Node), [{"id": n, "zones": [z], "kind": "speaker", "state": "online",
                                            "state_since": t - timedelta(minutes=1), "registered": True}
                                           for n, z in nodes.items()])
            await s.commit()
    finally:
        await db.close()
    return token


async def api(url: str, token: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw) as resp:
        return resp.status, await resp.json()


def pids_alive(*procs: HqProcess) -> list[int]:
    return [p.proc.pid for p in procs if p.proc is not None and p.proc.poll() is None]


__all__ = ["HqProcess", "api", "pids_alive", "seed", "signal"]
