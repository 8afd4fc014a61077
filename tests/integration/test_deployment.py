"""From an empty directory to secured loudspeakers, following docs/commune-broker.md and docs/INSTALL-NODE.md.

Every step is the documented command, run as a real process: the commune CA and certificates, the
broker configuration, Mosquitto with TLS and the ACL on 127.0.0.1, HQ serving HTTPS, a node
provisioned with a bundle (CLI) and one with an enrolment code (technician API → ``edge-agent
enroll``), both agents online over TLS with their own login, and a signed bulletin played. Then,
with node A's own login: it cannot read node B's commands, cannot publish as B nor as HQ; revoked,
it is cut off and refused; and ``doctor`` explains a wrong CA and an expired broker certificate.
The sound card and the amplifier relay are the only fakes (file sink, simulated relay).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from loaxa_common.certs import issue_server_cert, make_ca
from loaxa_contract import topics
from loaxa_link.diagnose import explain
from loaxa_link.mosquitto import free_port
from loaxa_link.mqtt import LinkConfig, MqttLink, PublishRefusedError
from tests.conftest import require_binary, wait_until

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
COMMUNE = "xa-mau"
ENV = {**os.environ, "LANGUAGE": "en"}


def cli(*args: object, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=ENV)
    if check:
        assert res.returncode == 0, f"{args}: {res.stdout}\n{res.stderr}"
    return res


class Processes:
    """Long-running processes of the test, stopped by PID (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: object) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT, env=ENV)
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for _name, proc in reversed(self.running):
            self.stop(proc)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    (tmp_path / "logs").mkdir()
    p = Processes(tmp_path / "logs")
    yield p
    p.stop_all()


def https(ca: Path, method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(ca))
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def hardware_edges(node_yaml: Path, out: Path) -> None:
    """The only fakes: the sound card (WAV files) and the amplifier relay (simulated)."""
    data = yaml.safe_load(node_yaml.read_text())
    data["audio"].update(sink="file", file_dir=str(out / "played"))
    data["amplifier"] = {"backend": "simulated", "warmup_s": 0.2, "hold_s": 0.2}
    data["tts"]["engines"] = ["espeak"]  # offline test machine
    data["broker"]["keepalive_s"] = 5
    node_yaml.write_text(yaml.safe_dump(data, allow_unicode=True))


async def wait_async(check, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def node_link(port: int, ca: Path, user: str, password: str, **kw: Any) -> MqttLink:
    return MqttLink(LinkConfig(host="127.0.0.1", port=port, client_id=f"probe-{user}-{kw.pop('tag', '')}",
                               username=user, password=password, tls_ca=str(ca), session_expiry_s=60,
                               reconnect_min_s=0.2, reconnect_max_s=1, **kw), kw.pop("on_message", None))


async def test_empty_directory_to_secured_loudspeakers(tmp_path: Path, procs: Processes) -> None:
    for tool in ("mosquitto", "espeak-ng", "ffmpeg"):
        require_binary(tool)
    root = tmp_path
    hq_dir, broker_dir = root / "hq", root / "broker"
    http_port, mqtt_port, tls_port = free_port(), free_port(), free_port()
    hq_yaml = root / "hq.yaml"
    hq_yaml.write_text(yaml.safe_dump({
        "commune": COMMUNE, "data_dir": str(hq_dir),
        "http": {"host": "127.0.0.1", "port": http_port, "public_url": f"https://127.0.0.1:{http_port}",
                 "tls_cert": str(hq_dir / "tls" / "https.crt"), "tls_key": str(hq_dir / "tls" / "https.key")},
        "broker": {"host": "127.0.0.1", "port": mqtt_port, "username": "loaxa-hq",
                   "managed": {"dir": str(hq_dir / "mosquitto"), "pid_file": str(broker_dir / "mosquitto.pid"),
                               "log_file": str(broker_dir / "mosquitto.log")}},
        "provisioning": {"broker_host": "127.0.0.1", "broker_port": tls_port},
        "bulletins": {"lead_time_s": 1.0, "sweep_interval_s": 0.2, "tts_engines": ["espeak"]},
    }))

    # 1. the commune CA, the broker's and HQ's certificates (docs/commune-broker.md)
    cli(BIN / "hq-server", "make-ca", "--config", hq_yaml)
    cli(BIN / "hq-server", "make-server-cert", "--config", hq_yaml, "--name", "127.0.0.1", "--name", "localhost")
    cli(BIN / "hq-server", "make-server-cert", "--config", hq_yaml, "--name", "127.0.0.1", "--stem", "https")
    ca = hq_dir / "tls" / "ca.crt"

    # 2. the broker configuration, and Mosquitto with TLS + password file + ACL on 127.0.0.1
    as_root = ["--user", "root"] if os.geteuid() == 0 else []
    cli(BIN / "hq-server", "broker-config", "--config", hq_yaml, "--standalone", broker_dir, "--tls-port", tls_port,
        "--bind", "127.0.0.1", *as_root)
    conf = (broker_dir / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and f"listener {tls_port} 127.0.0.1" in conf
    procs.start("mosquitto", shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", broker_dir / "mosquitto.conf")
    await wait_until(lambda: (broker_dir / "mosquitto.pid").exists(), 20, "mosquitto pid file")

    # 3. HQ over HTTPS, with a technician and a broadcaster
    tokens = {}
    for role in ("technician", "broadcaster"):
        res = subprocess.run([BIN / "hq-server", "create-user", "--config", hq_yaml, "--username", f"{role}-1",
                              "--role", role, "--password-stdin", "--token"], input="mat-khau-that-dai-1\n",
                             capture_output=True, text=True, timeout=120, env=ENV, check=True)
        tokens[role] = res.stdout.strip().splitlines()[-1]
    procs.start("hq", BIN / "hq-server", "run", "--config", hq_yaml)
    base = f"https://127.0.0.1:{http_port}"

    def hq_up() -> bool:
        try:
            return https(ca, "GET", f"{base}/api/v1/nodes", tokens["technician"])[0] == 200
        except OSError:
            return False

    await wait_async(hq_up, 60, "HQ on HTTPS")

    # the villages, in HQ's zone registry (a provisioned node's zones must be known: a typo is refused)
    for name in ("Thôn 1", "Thôn 2"):
        status, body = https(ca, "POST", f"{base}/api/v1/zones", tokens["technician"], {"name": name})
        assert status == 201, body
    typo = cli(BIN / "hq-server", "provision-node", "--config", hq_yaml, "--id", "loa-a", "--zone", "thon-l",
               check=False)
    assert typo.returncode == 1 and "thon-1" in typo.stderr, typo.stderr

    # 4a. node A: a bundle from the CLI (what install-node.sh --bundle installs in /etc/loaxa)
    out = cli(BIN / "hq-server", "provision-node", "--config", hq_yaml, "--id", "loa-a", "--zone", "Thôn 1",
              "--kind", "speaker", "--out", root / "bundle-a").stdout
    assert "applied to the running broker" in out
    a_etc = root / "node-a" / "etc"
    shutil.copytree(root / "bundle-a", a_etc)
    a_yaml = a_etc / "node.yaml"
    a_yaml.write_text(a_yaml.read_text().replace("/etc/loaxa", str(a_etc)).replace("/var/lib/loaxa/state",
                                                                                    str(root / "node-a" / "state")))
    hardware_edges(a_yaml, root / "node-a")

    # 4b. node B: an enrolment code from the technicians' API, redeemed on the "Pi" with edge-agent enroll
    status, body = https(ca, "POST", f"{base}/api/v1/nodes/loa-b/enrolment", tokens["technician"],
                         {"zones": ["thon-2"], "kind": "speaker"})
    assert status == 201, body
    code = body["code"]
    assert len(code.replace("-", "")) == 20
    b_etc = root / "node-b" / "etc"
    out = cli(BIN / "edge-agent", "enroll", base, code, "--dir", b_etc, "--state-dir", root / "node-b" / "state").stdout
    assert "loa-b" in out and body["hq_key_fingerprint"] in out  # the same fingerprint as HQ shows
    again = cli(BIN / "edge-agent", "enroll", base, code, "--dir", root / "again", check=False)
    assert again.returncode == 1 and "already used" in again.stderr  # one use only
    hardware_edges(b_etc / "node.yaml", root / "node-b")

    # 5. both agents online over TLS, each with its own login
    for name, node_yaml in (("a", a_yaml), ("b", b_etc / "node.yaml")):
        cli(BIN / "edge-agent", "check-config", "--config", node_yaml)
        procs.start(f"agent-{name}", BIN / "edge-agent", "run", "--config", node_yaml)

    def online(*nodes: str) -> bool:
        _, nodes_body = https(ca, "GET", f"{base}/api/v1/nodes", tokens["technician"])
        states = {n["id"]: n["state"] for n in nodes_body["nodes"]}
        return all(states.get(n) == "online" for n in nodes)

    await wait_async(lambda: online("loa-a", "loa-b"), 60, "both nodes online at HQ")

    # 6. a signed bulletin, played by node A
    status, body = https(ca, "POST", f"{base}/api/v1/bulletins", tokens["broadcaster"],
                         {"title": "Thử", "text": "Thông báo thử nghiệm qua kết nối bảo mật.",
                          "targets": {"nodes": ["loa-a"]}})
    assert status == 201, body
    bid = body["bulletin"]["id"]

    def delivered(node: str, bulletin: str) -> bool:
        _, d = https(ca, "GET", f"{base}/api/v1/bulletins/{bulletin}/deliveries", tokens["broadcaster"])
        return any(x["node"] == node and x["state"] == "played" for x in d["deliveries"])

    await wait_async(lambda: delivered("loa-a", bid), 90, "bulletin played by loa-a")
    assert list((root / "node-a" / "played").glob("*.wav"))

    # 7. node A's own login: no reading B's commands, no publishing as B or as HQ
    a_password = (a_etc / "mqtt-password").read_text().strip()
    spied: list[str] = []
    b_cmd = topics.node_cmd(COMMUNE, "loa-b")
    spy = node_link(tls_port, ca, "loa-a", a_password, tag="spy", subscriptions=[b_cmd])
    spy._on_message_cb = lambda t, _p: spied.append(t)
    await spy.start()
    try:
        await spy.wait_ready(20)  # Mosquitto grants the SUBACK and then delivers nothing
        status, body = https(ca, "POST", f"{base}/api/v1/bulletins", tokens["broadcaster"],
                             {"title": "B", "text": "Bản tin riêng cho thôn Hai.", "targets": {"nodes": ["loa-b"]}})
        assert status == 201, body
        await wait_async(lambda: delivered("loa-b", body["bulletin"]["id"]), 90, "bulletin played by loa-b")
        assert spied == []
        for topic in (topics.node_state(COMMUNE, "loa-b"), b_cmd):
            with pytest.raises(PublishRefusedError) as refused:  # as B, then as HQ
                await spy.publish(topic, b'{"state": "offline"}')
            assert refused.value.reason_code == 135
    finally:
        await spy.stop()

    # 8. revoked: cut off at once, refused after, shown offline at HQ, and doctor says why
    held = node_link(tls_port, ca, "loa-a", a_password, tag="held")
    await held.start()
    try:
        await held.wait_connected(20)
        cli(BIN / "hq-server", "revoke-node", "--config", hq_yaml, "--id", "loa-a")
        await wait_until(lambda: not held.connected, 10, "the revoked login dropped by the broker's reload")
    finally:
        await held.stop()
    await wait_async(lambda: not online("loa-a"), 30, "revoked node A offline at HQ")
    # the agent logs the refusal at its next reconnect attempt, after its backoff: wait for it
    await wait_until(lambda: "refused this node's user name or password" in procs.log("agent-a"), 60,
                     "agent A's log of the refused login")
    probe = node_link(tls_port, ca, "loa-a", a_password, tag="after")
    await probe.start()
    try:
        await wait_until(lambda: probe.last_error is not None or probe.connected, 20, "a verdict")
        assert not probe.connected
        assert explain(probe.last_error, "127.0.0.1", tls_port).cause == "refused_credentials"
    finally:
        await probe.stop()
    doc = cli(BIN / "edge-agent", "doctor", "--config", a_yaml, "--broker-timeout", "8", check=False)
    assert doc.returncode == 1 and "refused this node's user name or password" in doc.stdout, doc.stdout

    # 9. node B with another commune's CA, and a broker whose certificate expired: refused, explained
    other_ca, _ = make_ca(root / "other-ca", "xa-khac")
    wrong = b_etc / "node-wrong-ca.yaml"
    data = yaml.safe_load((b_etc / "node.yaml").read_text())
    data["broker"]["tls"]["ca"] = str(other_ca)
    wrong.write_text(yaml.safe_dump(data))
    doc = cli(BIN / "edge-agent", "doctor", "--config", wrong, "--broker-timeout", "8", check=False)
    assert doc.returncode == 1 and "not signed by the CA in broker.tls.ca" in doc.stdout, doc.stdout

    now = dt.datetime.now(dt.UTC)
    old_cert, old_key = issue_server_cert(hq_dir / "tls", root / "old", ["127.0.0.1"],
                                          not_before=now - dt.timedelta(days=900), not_after=now - dt.timedelta(days=1))
    old_port = free_port()
    old_yaml = root / "hq-old.yaml"  # a second broker for the same commune, with the expired certificate
    old_cfg = yaml.safe_load(hq_yaml.read_text())
    old_cfg["broker"].update(port=free_port(), managed={"dir": str(root / "old-managed")})
    old_yaml.write_text(yaml.safe_dump(old_cfg))
    cli(BIN / "hq-server", "broker-config", "--config", old_yaml, "--standalone", root / "old-broker", "--tls-port",
        old_port, "--bind", "127.0.0.1", "--cert", old_cert, "--key", old_key, *as_root)
    procs.start("old-mosquitto", shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                root / "old-broker" / "mosquitto.conf")
    await wait_until(lambda: (root / "old-broker" / "mosquitto.pid").exists(), 20, "old broker")
    data = yaml.safe_load((b_etc / "node.yaml").read_text())
    data["broker"]["port"] = old_port
    expired = b_etc / "node-expired.yaml"
    expired.write_text(yaml.safe_dump(data))
    doc = cli(BIN / "edge-agent", "doctor", "--config", expired, "--broker-timeout", "8", check=False)
    assert doc.returncode == 1 and "certificate has EXPIRED" in doc.stdout, doc.stdout
