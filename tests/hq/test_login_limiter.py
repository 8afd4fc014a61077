"""The login limiter holds under any concurrency, per user name and (higher) per address, across HQ processes;
argon2 runs in a worker thread, so a password check never stalls other requests."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from hq_server.services.login_limiter import LoginLimiter, LoginLocked
from hq_server.storage.tables import LoginCounter, User
from hq_server.web import DB, LIMITER
from tests.hq.fixtures import PASSWORD, fresh_postgres_db

LOGIN = "/api/v1/auth/login"


async def _login(client, username: str, password: str) -> int:
    async with client.post(LOGIN, json={"username": username, "password": password}) as r:
        return r.status


async def _guesses(hq, n: int, username: str = "admin-1") -> Counter:
    return Counter(await asyncio.gather(*(_login(hq.client, username, f"guess-{i}") for i in range(n))))


async def test_100_parallel_guesses_check_at_most_the_threshold(hq) -> None:
    statuses = await _guesses(hq, 100)
    assert set(statuses) <= {401, 429} and sum(statuses.values()) == 100, statuses
    assert 1 <= statuses[401] <= 5, statuses  # only the reserved attempts had their password checked
    assert await _login(hq.client, "admin-1", PASSWORD) == 429  # the right password waits out the window
    async with hq.client.post(LOGIN, json={"username": "admin-1", "password": PASSWORD}) as r:
        body = await r.json()
        assert r.status == 429 and "username" in body["fields"] and int(r.headers["Retry-After"]) > 0
    # unknown user names are limited the same way (no hint which names exist)
    statuses = await _guesses(hq, 30, "nobody-here")
    assert statuses[401] <= 5 and statuses[429] >= 25, statuses


async def test_a_password_check_does_not_stall_other_requests(hq) -> None:
    """A user whose argon2 hash takes seconds to verify: while one login checks it, other requests are served.

    On the event loop the check would block every other request until it ended (a few at most could slip in
    before it starts); in a worker thread dozens are answered meanwhile.
    """
    slow = PasswordHasher(time_cost=20, memory_cost=65536, parallelism=1).hash(PASSWORD)
    async with hq.app[DB].sessions() as s:
        s.add(User(username="slow-hash", role="broadcaster", password_hash=slow))
        await s.commit()
    login = asyncio.create_task(_login(hq.client, "slow-hash", PASSWORD))
    served = 0
    while not login.done():
        status, _ = await hq.call("GET", "/api/v1/nodes", role="technician")
        assert status == 200
        served += 1
    assert await login == 200
    assert served >= 20, f"only {served} requests answered during a multi-second password check"


async def test_a_shared_office_address_is_not_locked_by_a_few_users_typos(start_hq) -> None:
    hq = await start_hq(auth={"login_max_failures": 3, "login_max_failures_per_address": 12})
    for role in ("admin", "broadcaster", "technician", "police"):  # four people each mistype once…
        assert await _login(hq.client, f"{role}-1", "typo") == 401
    assert await _login(hq.client, "broadcaster-1", PASSWORD) == 200  # …and still log in
    # a success forgets that user name's failures, but not the address's
    for _ in range(2):
        assert await _login(hq.client, "broadcaster-1", "typo") == 401
    assert await _login(hq.client, "broadcaster-1", PASSWORD) == 200
    # one user name locked: others from the same address are not
    assert Counter([await _login(hq.client, "police-1", "x") for _ in range(3)]) == {401: 2, 429: 1}
    assert await _login(hq.client, "police-1", PASSWORD) == 429
    assert await _login(hq.client, "technician-1", PASSWORD) == 200
    # spraying many user names from one address stops at the address threshold (12 here)
    statuses = Counter([await _login(hq.client, f"user-{i}", "x") for i in range(6)])
    assert statuses[429] >= 1, statuses
    async with hq.client.post(LOGIN, json={"username": "admin-1", "password": PASSWORD}) as r:
        assert r.status == 429 and "address" in (await r.json())["fields"]
    # …while another address (the same machine's 127.0.0.2: a real different source address) logs in
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        url = hq.client.make_url(LOGIN).with_host("127.0.0.1")
        async with other.post(url, json={"username": "admin-1", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()


async def _shared_limit(start_hq, db_url: str) -> None:
    first = await start_hq(db_url=db_url)
    second = await start_hq(db_url=db_url, tokens=first.tokens)
    a, b = await asyncio.gather(_guesses(first, 50), _guesses(second, 50))
    assert a[401] + b[401] <= 5, (a, b)  # one limit for both processes
    assert await _login(second.client, "admin-1", PASSWORD) == 429
    await first.app[LIMITER].clear()
    assert await _login(second.client, "admin-1", PASSWORD) == 200


async def test_two_hq_processes_on_one_sqlite_file_share_the_limit(start_hq, tmp_path) -> None:
    await _shared_limit(start_hq, f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}")


@pytest.mark.postgres
async def test_two_hq_processes_on_one_postgresql_share_the_limit(start_hq, postgres_url) -> None:
    await _shared_limit(start_hq, await fresh_postgres_db(postgres_url, "limiter_shared"))


async def test_windows_end_and_counters_are_pruned(hq) -> None:
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    limiter = LoginLimiter(hq.app[DB].sessions, 2, 100, 60, clock=lambda: clock[0])
    for _ in range(2):
        await limiter.reserve("10.0.0.1", "Ba")
    with pytest.raises(LoginLocked) as err:
        await limiter.reserve("10.0.0.1", "ba")  # user names are counted case-insensitively
    assert err.value.scope == "user" and 59 <= err.value.retry_after_s <= 60
    clock[0] += timedelta(seconds=61)
    res = await limiter.reserve("10.0.0.1", "ba")  # a new window
    await limiter.succeeded(res)
    clock[0] += timedelta(seconds=3600)
    limiter._last_prune = 0.0
    await limiter.reserve("10.0.0.9", "someone")
    async with hq.app[DB].sessions() as s:
        keys = set((await s.scalars(select(LoginCounter.key))).all())
    assert "user:ba" not in keys and "ip:10.0.0.1" not in keys and "user:someone" in keys
