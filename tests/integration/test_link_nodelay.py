"""Latency settings measured with ``loaxa-sim bench fanout`` stay on: Nagle off at both ends, time-based saves."""

from __future__ import annotations

import socket

import pytest

from loaxa_link.mqtt import MqttLink
from tests.conftest import hq_link_config

pytestmark = pytest.mark.integration


async def test_client_socket_has_nagle_off_and_broker_config_says_so(broker) -> None:
    link = MqttLink(hq_link_config(broker, "nodelay-check"))
    await link.start()
    try:
        await link.wait_ready(15)
        assert link._sock is not None
        assert link._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await link.stop()
    conf = broker.conf_path.read_text().splitlines()
    assert "set_tcp_nodelay true" in conf
    # saved every second and at each stop; never a full rewrite per delivered message
    assert "autosave_interval 1" in conf and "autosave_on_changes false" in conf
