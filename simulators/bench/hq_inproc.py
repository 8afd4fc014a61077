"""The real HQ application in the benchmark's own process, for benchmarks that leave the fleet out.

``benchmarks/bench_node_reports.py`` and ``benchmarks/bench_submit.py`` measure one part of HQ (recording
node reports; answering a POST and dispatching) with nothing else on the machine's event loop: the real
application on its embedded Mosquitto, served on loopback, offline speech (espeak-ng), on SQLite and on a
throw-away PostgreSQL server.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hq_server.app import create_app
from hq_server.config import HqConfig
from hq_server.web import ORCH
from loaxa_contract import signing
from loaxa_link.mosquitto import free_port
from simulators.bench.pg import TempPostgres


async def databases(postgres: bool) -> AsyncIterator[tuple[str, Path, str | None]]:
    """(label, a fresh work directory, database URL): SQLite in that directory, then PostgreSQL if asked."""
    with tempfile.TemporaryDirectory() as tmp:
        yield "SQLite", Path(tmp), None
    if postgres:
        pg = TempPostgres().start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                yield "PostgreSQL", Path(tmp), pg.url
        finally:
            pg.stop()


@asynccontextmanager
async def hq_in_process(work: Path, database_url: str | None,
                        commune: str) -> AsyncIterator[tuple[web.Application, TestClient]]:
    """HQ started and connected (both MQTT links ready); its HTTP API through the returned client."""
    key, _ = signing.generate_keypair(work / "keys")
    port = free_port()
    cfg = HqConfig.model_validate({"commune": commune, "data_dir": str(work / "hq"), "private_key": str(key),
                                   "http": {"host": "127.0.0.1", "port": port},
                                   "bulletins": {"tts_engines": ["espeak"]}, "database": {"url": database_url}})
    app = create_app(cfg)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        await app[ORCH].wait_ready(60)
        yield app, client
    finally:
        await client.close()
