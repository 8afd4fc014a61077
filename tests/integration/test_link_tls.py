"""MqttLink over TLS to a real Mosquitto: a burst must not get stuck in the TLS buffer.

paho reads one MQTT packet per ``loop_read``; over TLS the first read decrypts a whole record (many
packets) into the SSL object, the socket is no longer readable, and a link that reads once per
readiness waits for the next bytes from the broker (a keepalive later) — a lost wake-up.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loaxa_link.mosquitto import free_port
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import require_binary, wait_until
from tests.edge.helpers import self_signed

pytestmark = pytest.mark.integration


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    require_binary("mosquitto")
    cert, key = self_signed(tmp_path / "tls")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {cert}\ncertfile {cert}\n"
                    f"keyfile {key}\nuser root\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(10)


async def test_burst_over_tls_is_read_completely(tls_broker):
    port, ca = tls_broker
    got: list[bytes] = []

    def link(name: str, subs: list[str], on_message=None) -> MqttLink:
        return MqttLink(LinkConfig(port=port, client_id=name, tls_ca=str(ca), keepalive=120, subscriptions=subs),
                        on_message=on_message)

    sub = link("tls-sub", ["burst/#"], lambda t, p: got.append(p))
    pub = link("tls-pub", [])
    await sub.start()
    await pub.start()
    try:
        await sub.wait_ready(20)
        await pub.wait_ready(20)
        await asyncio.gather(*(pub.publish(f"burst/{i}", f"message {i:03d}".encode()) for i in range(200)))
        # keepalive is 120 s: nothing else arrives to wake a reader that left packets in the TLS buffer
        await wait_until(lambda: len(got) == 200, 15, f"all 200 messages over TLS (got {len(got)})")
        assert sorted(got) == [f"message {i:03d}".encode() for i in range(200)]
    finally:
        await sub.stop()
        await pub.stop()
