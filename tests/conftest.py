"""Shared fixtures: a real Mosquitto on 127.0.0.1, HQ keys, node configs, running agents, an ack tap.

Nothing here is mocked: the broker is the real ``mosquitto`` binary, speech is the real espeak-ng.
Waits are on conditions with generous timeouts, never fixed sleeps.

The broker runs as in production: no anonymous access, a password file and the commune's ACL rendered
from ``broker_credentials``. ``make_node_config`` issues each node its own credential (and reloads the
broker); HQ-side clients (``tap``, :func:`hq_link_config`) log in as HQ; a hand-made client that plays
a node uses ``node_logins.login(node_id)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import NodeConfig
from hq_server.signer import CommandSigner
from loaxa_contract import codec, signing, topics
from loaxa_contract.models import Ack, AckStage
from loaxa_link.credentials import CredentialStore
from loaxa_link.mosquitto import Mosquitto
from loaxa_link.mqtt import LinkConfig, MqttLink
from simulators.nodes import SimulatedLogins, simulated_node_config

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_NODE_CONFIG = REPO / "firmware_configs" / "demo" / "speaker-node.yaml"
COMMUNE = "xa-test"


def require_binary(name: str) -> None:
    """Integration tests need real tools; a missing one is a failure (CI installs them), not a skip."""
    if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists():
        pytest.fail(f"{name} is not installed; run .ci/run or apt-get install it")


#: How long a fixture waits for a client (HQ, agent, tap) to be connected and subscribed: generous, because
#: it is a wait on a condition (seconds on a loaded machine, milliseconds when idle), not a performance test.
READY_S = 60.0


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def wait_until_blocking(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """:func:`wait_until` for tests that drive processes without an event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


async def run_together(*parts: Any) -> None:
    """Run the parts of a storm (traffic, kills) together; if one fails, cancel the others before the
    caller's clean-up, so none of them restarts a process after it, and re-raise the failure."""
    tasks = [asyncio.ensure_future(p) for p in parts]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def port_listening(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:``port`` (an HQ or broker process is up)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@pytest.fixture
def broker_credentials(tmp_path: Path) -> CredentialStore:
    """The test commune's broker logins (HQ's and one per node), as HQ keeps them."""
    return CredentialStore(tmp_path / "broker-credentials", COMMUNE)


@pytest.fixture
def node_logins(tmp_path: Path, broker_credentials: CredentialStore) -> SimulatedLogins:
    """Issues node credentials into ``broker_credentials`` and reloads the ``broker`` if it runs."""
    return SimulatedLogins(broker_credentials, tmp_path / "node-secrets", broker_dir=tmp_path / "broker")


@pytest.fixture
def broker(tmp_path: Path, broker_credentials: CredentialStore) -> Iterator[Mosquitto]:
    """Mosquitto with the production password file + ACL (``broker.credentials``)."""
    require_binary("mosquitto")
    m = Mosquitto(tmp_path / "broker", broker_credentials).start()
    yield m
    m.stop()


def hq_link_config(broker: Mosquitto, client_id: str | None = None, **kw: Any) -> LinkConfig:
    """LinkConfig of an HQ-side client of the test broker (HQ's credential)."""
    user, password = broker.credentials.hq_login()
    return LinkConfig(port=broker.port, client_id=client_id or f"hq-side-{uuid.uuid4().hex[:6]}",
                      username=user, password=password, **kw)


def node_link_config(broker: Mosquitto, logins: SimulatedLogins, node_id: str, client_id: str | None = None,
                     zones: list[str] | None = None, **kw: Any) -> LinkConfig:
    """LinkConfig of a hand-made client logged in as node ``node_id`` (its own credential, its ACL)."""
    user, password = logins.login(node_id, zones)
    return LinkConfig(port=broker.port, client_id=client_id or f"{node_id}-{uuid.uuid4().hex[:6]}",
                      username=user, password=password, **kw)


@pytest.fixture(scope="session")
def hq_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return signing.generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def signer(hq_keys: tuple[Path, Path], tmp_path: Path) -> CommandSigner:
    return CommandSigner(hq_keys[0], tmp_path / "hq-seq")


@pytest.fixture
def make_node_config(tmp_path: Path, hq_keys: tuple[Path, Path],
                     node_logins: SimulatedLogins) -> Callable[..., NodeConfig]:
    """Node config from the shipped example file, pointed at the test broker and temp dirs.

    The node gets its own broker credential for its zones (issued into ``broker_credentials``, the
    running ``broker`` reloaded) unless ``broker__username`` / ``broker__password*`` are overridden.
    """

    def make(node_id: str = "loa-1", zones: list[str] | None = None, port: int = 1883, **overrides: Any) -> NodeConfig:
        zones = zones if zones is not None else ["thon-1"]
        own_login = any(k in overrides for k in ("broker__username", "broker__password", "broker__password_file"))
        login = {} if own_login else node_logins.ensure({node_id: zones})[node_id]
        return simulated_node_config(tmp_path, node_id=node_id, commune=COMMUNE, zones=zones, port=port,
                                     hq_public_key=hq_keys[1], **{"broker__keepalive_s": 5, **login, **overrides})

    return make


class AckTap:
    """HQ-side view of acks: subscribes to every node's ack topic of the test commune."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None) -> None:
        self.acks: list[Ack] = []
        self.link = MqttLink(
            LinkConfig(port=port, client_id=f"tap-{uuid.uuid4().hex[:6]}", username=username, password=password,
                       subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)]),
            on_message=self._feed,
        )

    def _feed(self, topic: str, payload: bytes) -> None:
        self.acks.append(codec.decode_model(payload, Ack))

    def stages(self, command_id: str, node: str | None = None) -> list[AckStage]:
        return [a.stage for a in self.acks if a.command_id == command_id and (node is None or a.node == node)]

    def for_command(self, command_id: str) -> list[Ack]:
        return [a for a in self.acks if a.command_id == command_id]

    async def wait_stage(self, command_id: str, stage: AckStage, node: str | None = None,
                         timeout: float = 30.0) -> Ack:
        await wait_until(lambda: stage in self.stages(command_id, node), timeout, f"{stage} ack for {command_id}")
        return next(a for a in self.acks if a.command_id == command_id and a.stage == stage
                    and (node is None or a.node == node))

    async def wait_rejected(self, reason: str, timeout: float = 20.0) -> Ack:
        await wait_until(lambda: any(a.reason == reason for a in self.acks), timeout, f"rejection {reason}")
        return next(a for a in self.acks if a.reason == reason)

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.link.publish(topic, payload)


@pytest.fixture
async def tap(broker: Mosquitto) -> AsyncIterator[AckTap]:
    t = AckTap(broker.port, *broker.credentials.hq_login())
    await t.link.start()
    await t.link.wait_ready(READY_S)
    yield t
    await t.link.stop()


@pytest.fixture
async def start_agent(make_node_config: Callable[..., NodeConfig], broker: Mosquitto) -> AsyncIterator[Callable]:
    """Start real EdgeAgents (same event loop); all are stopped at teardown."""
    from edge_agent.app import EdgeAgent

    running: list[EdgeAgent] = []

    async def start(node_id: str = "loa-1", zones: list[str] | None = None, config: NodeConfig | None = None,
                    **kw: Any) -> EdgeAgent:
        require_binary("espeak-ng")
        cfg = config or make_node_config(node_id, zones, port=broker.port, **kw)
        agent = EdgeAgent(cfg)
        await agent.start()
        await agent.link.wait_ready(READY_S)
        running.append(agent)
        return agent

    yield start
    for agent in running:
        await agent.stop()


def bulletin(signer: CommandSigner, text: str = "Xin chào bà con thôn Một. Đây là bản tin thử nghiệm.",
             target: str = "all", ttl_s: float = 600, **fields: Any) -> dict[str, Any]:
    return signer.build("bulletin", target=target, ttl_s=ttl_s,
                        bulletin_id=fields.pop("bulletin_id", uuid.uuid4().hex[:12]), text=text, **fields)


def camera_priority() -> None:
    """Run the simulated cameras ahead of the machine's other work (in the child, before exec).

    Real cameras have their own processor: a node short of CPU reads late, but its cameras keep their
    pace. The simulator shares this machine, and under load it rendered (2 ms of CPU per frame, 14
    cameras at 10 fps: ~28 % of a core) and sent its MJPEG streams at 6-8 fps — a slow camera, truly,
    which the monitor rightly called ``low_fps``. With a higher priority it stays a healthy camera while
    the monitor under test gets no help. Without the privilege to raise it (not root), it runs as is.
    """
    with contextlib.suppress(OSError):
        os.nice(-5)


@pytest.fixture
def camera_sim() -> Iterator[dict[str, dict[str, Any]]]:
    """Two simulated MJPEG cameras (320×240, 10 fps) in their own process; {id: {url, control}}."""
    proc = subprocess.Popen([sys.executable, "-m", "simulators.camera.cli", "--mjpeg", "2", "--rtsp", "0",
                             "--width", "320", "--height", "240", "--fps", "10", "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True, preexec_fn=camera_priority)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "camera simulator did not start"
        yield {c["id"]: c for c in json.loads(line)["cameras"]}
    finally:
        proc.terminate()
        proc.wait(10)


def camera_fault(cam: dict[str, Any], name: str) -> None:
    """Inject a fault (or ``none``) into a simulated camera at run time."""
    req = urllib.request.Request(f"{cam['control']}?fault={name}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
