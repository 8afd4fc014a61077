"""Fuzz suite set-up: hypothesis profiles, one HQ shared by a module's fuzz tests, counts of inputs thrown.

Profiles (``LOAXA_FUZZ_PROFILE``): ``ci`` (default; derandomized, so every run throws the same inputs and a
failure reproduces; > 10 000 inputs in a few minutes on 2 cores) and ``long`` (10× the examples, random
seeds, failures kept in ``.hypothesis/`` and replayed first next time). See docs/testing.md.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from sqlalchemy import select

from hq_server.app import create_app
from hq_server.services.users import create_user
from hq_server.storage.tables import CommandLog
from hq_server.web import DB
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto, free_port
from tests.conftest import COMMUNE, require_binary
from tests.hq.fixtures import ROLES, Hq, hq_config

PROFILE_ENV = "LOAXA_FUZZ_PROFILE"
BUDGETS = {  # examples per fuzz test, by profile
    "ci": {"body_route": 50, "route": 15, "mqtt": 3000, "gate": 5000},
    "long": {"body_route": 500, "route": 150, "mqtt": 30_000, "gate": 50_000},
}
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
          HealthCheck.filter_too_much, HealthCheck.large_base_example]

settings.register_profile("ci", deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET,
                          print_blob=True)
settings.register_profile("long", deadline=None, suppress_health_check=_QUIET, print_blob=True,
                          database=DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2]
                                                                     / ".hypothesis" / "examples")))
PROFILE = os.environ.get(PROFILE_ENV, "ci")
if PROFILE not in BUDGETS:
    raise pytest.UsageError(f"{PROFILE_ENV}={PROFILE!r}: use one of {', '.join(BUDGETS)}")
settings.load_profile(PROFILE)

THROWN: Counter[str] = Counter()
"""Inputs thrown per target (http, mqtt, gate), reported at the end of the run."""


def budget(kind: str) -> int:
    return BUDGETS[PROFILE][kind]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if THROWN:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(THROWN.items()))
        terminalreporter.write_line(f"fuzz ({PROFILE} profile): {sum(THROWN.values())} inputs thrown ({parts})")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz_hq(tmp_path_factory: pytest.TempPathFactory, hq_keys: tuple[Path, Path]) -> AsyncIterator[Hq]:
    """A real HQ (SQLite, real Mosquitto, real espeak-ng) shared by the module's fuzz tests, with a few nodes,
    a camera and a sent bulletin so fuzzed ids can hit real rows."""
    require_binary("mosquitto")
    tmp = tmp_path_factory.mktemp("fuzz-hq")
    credentials = CredentialStore(tmp / "broker-credentials", COMMUNE)  # authenticated, as in production
    broker = Mosquitto(tmp / "broker", credentials).start()
    client: TestClient | None = None
    try:
        port = free_port()
        app = create_app(hq_config(tmp, hq_keys[0], broker.port, None, port, credentials.hq_login()))
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        hq = Hq(client, app, {})
        async with app[DB].sessions() as s:
            for role in ROLES:
                hq.tokens[role] = await create_user(s, f"{role}-1", "mat-khau-rat-dai-123", role,
                                                    with_token=True) or ""
        await hq.orch.wait_ready(15)
        await _seed(hq)
        yield hq
    finally:
        if client is not None:
            await client.close()
        broker.stop()


async def _seed(hq: Hq) -> None:
    await hq.add_zones("thon-1", "thon-2")
    for node, zone in (("loa-1", "thon-1"), ("loa-2", "thon-2")):
        status, body = await hq.call("PUT", f"/api/v1/nodes/{node}", role="technician", json={"zones": [zone]})
        assert status == 201, body
    status, body = await hq.call("PUT", "/api/v1/cameras/cam-1", role="technician",
                                 json={"node": "loa-1", "zone": "thon-1"})
    assert status == 201, body
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Họp thôn", "text": "Mời bà con dự họp lúc 7 giờ.", "targets": {"zones": ["thon-1"]}})
    assert status == 201, body
    # dispatched off the request: wait for its command, so fuzzed acks can name a real one from the start
    bulletin_id = body["bulletin"]["id"]
    sent: list[str] = []

    async def poll() -> None:
        async with hq.app[DB].sessions() as s:
            sent[:] = (await s.scalars(select(CommandLog.id).where(CommandLog.bulletin_id == bulletin_id))).all()
    for _ in range(600):
        await poll()
        if sent:
            break
        await asyncio.sleep(0.05)
    assert sent, "the seeded bulletin was never dispatched"
