"""HQ test fixtures: a real HQ app (aiohttp test server on 127.0.0.1), users with tokens, PostgreSQL.

Imported by tests/hq/conftest.py and by tests/integration/test_hq_*.py. Nothing of ours is mocked:
real Mosquitto, real database, real edge agents where a test needs nodes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hq_server.app import create_app
from hq_server.config import HqConfig
from hq_server.services.orchestrator import Orchestrator
from hq_server.services.users import create_user
from hq_server.web import DB, ORCH
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto, free_port
from tests.conftest import COMMUNE, READY_S, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "mat-khau-rat-dai-123"
ROLES = ("admin", "broadcaster", "technician", "police")


@dataclass
class Hq:
    """A running HQ: HTTP client, tokens per role, and the orchestrator for waiting on conditions."""

    client: TestClient
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def orch(self) -> Orchestrator:
        return self.app[ORCH]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> tuple[int, Any]:
        headers = {**(self.headers(role) if role else {}), **kw.pop("headers", {})}
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def add_zones(self, *slugs: str) -> None:
        """Register zones (``thon-1`` is named "Thôn 1"); a zone that exists already is fine."""
        for slug in slugs:
            name = f"Thôn {slug[5:]}" if slug.startswith("thon-") else slug
            status, body = await self.call("POST", "/api/v1/zones", json={"slug": slug, "name": name})
            assert status in (201, 409), body

    async def deliveries(self, bulletin_id: str) -> dict[str, dict[str, Any]]:
        status, body = await self.call("GET", f"/api/v1/bulletins/{bulletin_id}/deliveries")
        assert status == 200, body
        return {d["node"]: d for d in body["deliveries"]}

    async def wait_bulletin(self, bulletin_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
        """The bulletin once its state is one of ``states`` (a POST answers before the dispatcher sends)."""
        last: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal last
            status, body = await self.call("GET", f"/api/v1/bulletins/{bulletin_id}")
            assert status == 200, body
            last = body["bulletin"]
            return last["state"] in states

        try:
            await wait_async(check, timeout, f"bulletin {bulletin_id} in {states}")
        except AssertionError as err:
            raise AssertionError(f"{err} (last state: {last.get('state')})") from None
        return last

    async def wait_delivery(self, bulletin_id: str, node: str, state: str, timeout: float = 40.0) -> dict[str, Any]:
        last: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal last
            last = (await self.deliveries(bulletin_id)).get(node, {})
            return last.get("state") == state

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await check():
            if loop.time() > deadline:
                raise AssertionError(f"{node} of {bulletin_id} never reached {state}; last: {last}")
            await asyncio.sleep(0.1)
        return last


async def wait_async(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition") -> None:
    """Like ``wait_until`` for a condition that needs I/O (an API call, a query)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def hq_config(tmp_path: Path, key: Path, broker_port: int | None, db_url: str | None = None, http_port: int = 0,
              broker_login: tuple[str, str] | None = None, **sections: Any) -> HqConfig:
    """HQ config for the test broker on ``broker_port`` (None: HQ embeds its own).

    HQ logs in with ``broker_login``, by default HQ's credential from the ``broker_credentials`` fixture's
    store (same ``tmp_path``).
    """
    data: dict[str, Any] = {
        "commune": COMMUNE, "data_dir": str(tmp_path / "hq"), "private_key": str(key),
        "http": {"host": "127.0.0.1", "port": http_port, "public_url": f"http://127.0.0.1:{http_port}"},
        # offline tests: an explicit espeak-ng chain (HQ's default puts gTTS first, which needs the Internet)
        "bulletins": {"lead_time_s": 1.0, "sweep_interval_s": 0.2, "tts_engines": ["espeak"]},
        "database": {"url": db_url},
    }
    if broker_port is not None:
        user, password = broker_login or CredentialStore(tmp_path / "broker-credentials", COMMUNE).hq_login()
        data["broker"] = {"port": broker_port, "username": user, "password": password}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return HqConfig.model_validate(data)


@pytest.fixture
async def start_hq(tmp_path: Path, hq_keys: tuple[Path, Path], broker: Mosquitto) -> AsyncIterator[Callable[..., Any]]:
    """Start HQ against the test broker; returns an :class:`Hq` with a token per role."""
    running: list[TestClient] = []

    async def start(db_url: str | None = None, tokens: dict[str, str] | None = None, **sections: Any) -> Hq:
        """``tokens``: those of an earlier HQ on the same database (a restart: users exist already)."""
        port = free_port()
        cfg = hq_config(tmp_path, hq_keys[0], broker.port, db_url, port, broker.credentials.hq_login(), **sections)
        # each its own instance name, as two real processes sharing a PostgreSQL database must have
        cfg = cfg.model_copy(update={"instance": cfg.instance or f"hq-{len(running) + 1}"})
        app = create_app(cfg)
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        running.append(client)
        hq = Hq(client, app, dict(tokens or {}))
        async with app[DB].sessions() as s:
            for role in ROLES:
                if role not in hq.tokens:
                    hq.tokens[role] = await create_user(s, f"{role}-1", PASSWORD, role, with_token=True) or ""
        await hq.orch.wait_ready(READY_S)
        return hq

    yield start
    for client in running:
        await client.close()


@pytest.fixture
async def hq(start_hq: Callable[..., Any]) -> Hq:
    return await start_hq()


# ---------------------------------------------------------------- PostgreSQL (real server, temp dir)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start PostgreSQL 15 on 127.0.0.1 on a free port in a temp dir (initdb + pg_ctl); stop it after."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL server binaries missing: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="loaxa-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                 "-E", "UTF8", "--no-locale"]), check=True, capture_output=True)
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                                 "-w", "-t", "60", "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


async def fresh_postgres_db(base_url: str, name: str) -> str:
    """A new, empty database on the test server (each test migrates from empty)."""
    import asyncpg

    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


__all__ = ["PASSWORD", "Hq", "fresh_postgres_db", "hq", "hq_config", "postgres_url", "start_hq", "wait_async",
           "wait_until"]
