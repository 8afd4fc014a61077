"""The sd_notify protocol against a real AF_UNIX datagram socket, as systemd listens on one."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import pytest

from loaxa_common.sd_notify import Notifier


@pytest.fixture
def listener(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def test_messages_reach_the_socket_and_env_is_cleared(listener) -> None:
    path, sock = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid()), "OTHER": "x"}
    n = Notifier.from_env(env)
    assert env == {"OTHER": "x"}  # children (mosquitto, aplay) never inherit our socket
    assert n.enabled and n.watchdog_interval_s == 2.0
    assert n.ready("node loa-1")
    assert sock.recv(4096) == b"READY=1\nSTATUS=node loa-1"
    assert n.watchdog() and sock.recv(4096) == b"WATCHDOG=1"
    assert n.stopping() and sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket_address() -> None:
    name = f"loaxa-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"


def test_inert_outside_systemd_and_for_another_pid(listener) -> None:
    n = Notifier.from_env({})
    assert not n.enabled and not n.ready() and n.start_watchdog() is None
    path, _ = listener
    child = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert child.watchdog_interval_s is None  # the watchdog was meant for another process


def test_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "gone")).ready()


async def test_watchdog_pings_from_the_event_loop(listener) -> None:
    path, sock = listener
    sock.setblocking(False)
    n = Notifier(path, watchdog_usec=100_000)
    task = n.start_watchdog()
    assert task is not None
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(got) < 3:
        assert loop.time() < deadline, got
        try:
            got.append(sock.recv(100))
        except BlockingIOError:
            await asyncio.sleep(0.01)
    task.cancel()
    assert set(got) == {b"WATCHDOG=1"}
