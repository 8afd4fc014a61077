"""``hq-server`` tells the truth: ``send`` goes through HQ (recorded, audited, reported), ``create-user`` needs a
role and never waits for a terminal it does not have, a busy HTTP port is one clean line — for ``run`` and for the
demo, with nothing left running. Real processes, real HQ, real broker and edge agent."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from loaxa_link.mosquitto import free_port
from tests.conftest import COMMUNE
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


async def _run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """A CLI process awaited without blocking the event loop (HQ serves the test from this loop)."""
    proc = await asyncio.create_subprocess_exec(*map(str, args), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
                                                env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _hq_yaml(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "cli-hq.yaml"
    path.write_text(yaml.safe_dump({"commune": COMMUNE, "data_dir": str(tmp_path / "cli-hq"),
                                    "http": {"public_url": url}}))
    return path


async def test_send_goes_through_hq_and_is_recorded(hq: Hq, start_agent, tmp_path):  # noqa: F811
    await start_agent("a-1", zones=["thon-1"])

    async def online() -> bool:
        _, body = await hq.call("GET", "/api/v1/nodes/a-1", role="technician")
        return body.get("node", {}).get("state") == "online"

    await wait_async(online, 30, "a-1 online")
    await hq.call("PATCH", "/api/v1/zones/thon-1", json={"name": "Thôn 1"})
    config = _hq_yaml(tmp_path, str(hq.client.make_url("")).rstrip("/"))
    token = tmp_path / "token"
    token.write_text(hq.tokens["broadcaster"] + "\n")

    code, out, err = await _run(BIN / "hq-server", "send", "--config", config, "--token-file", token,
                                "--target", "zone:Thôn 1", "--text", "Mời bà con thôn Một họp lúc 19 giờ.")
    assert code == 0, out + err
    assert "UNRECORDED" not in err and "HQ đã ghi nhận bản tin" in out
    bid = out.split("HQ đã ghi nhận bản tin ")[1].split()[0]
    assert "a-1" in out and "played" in out

    _, body = await hq.call("GET", f"/api/v1/bulletins/{bid}")
    assert body["bulletin"]["author"] == "broadcaster-1" and body["bulletin"]["targets"]["zones"] == ["thon-1"]
    _, audit = await hq.call("GET", "/api/v1/audit")
    assert any(e["user"] == "broadcaster-1" and e["detail"].get("bulletin") == bid for e in audit["audit"])
    _, report = await hq.call("GET", "/api/v1/reports/broadcasts?group=node", role="technician")
    assert next(r for r in report["rows"] if r["node"] == "a-1")["plays"] == 1

    code, out, err = await _run(BIN / "hq-server", "send", "--config", config, "--text", "x",
                                "--target", "zone:thon-l", env={"LOAXA_TOKEN": hq.tokens["broadcaster"]})
    assert code == 2 and "thon-1" in err and "did you mean" in err and "Traceback" not in err, err
    code, out, err = await _run(BIN / "hq-server", "send", "--config", config, "--text", "x",
                                env={"LOAXA_TOKEN": ""})
    assert code == 2 and "LOAXA_TOKEN" in err and "Traceback" not in err, err


async def test_send_when_hq_is_down_says_so_and_points_to_the_direct_mode(tmp_path):
    config = _hq_yaml(tmp_path, f"http://127.0.0.1:{free_port()}")
    code, out, err = await _run(BIN / "hq-server", "send", "--config", config, "--text", "Xin chào",
                                env={"LOAXA_TOKEN": "anything"})
    assert code == 2, out + err
    assert "không kết nối được HQ" in err and "--direct" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_create_user_needs_a_role_and_never_waits_for_a_missing_terminal(tmp_path):
    config = _hq_yaml(tmp_path, "http://127.0.0.1:9")
    code, _, err = await _run(BIN / "hq-server", "create-user", "--config", config, "--username", "bt")
    assert code == 2 and "--role" in err  # no silent admin
    code, _, err = await _run(BIN / "hq-server", "create-user", "--config", config, "--username", "bt",
                              "--role", "broadcaster")
    assert code == 2 and "no terminal" in err and "EOFError" not in err and "Traceback" not in err, err
    code, out, err = await _run(BIN / "hq-server", "create-user", "--config", config, "--username", "bt",
                                "--role", "broadcaster", "--generate", "--token")
    assert code == 0, err
    password, token = out.split()
    assert len(password) >= 12 and len(token) > 20 and "created broadcaster 'bt'" in err
    code, _, err = await _run(BIN / "hq-server", "create-user", "--config", config, "--username", "ca",
                              "--role", "police", "--password-env", "NO_SUCH_VARIABLE_SET")
    assert code == 2 and "NO_SUCH_VARIABLE_SET" in err


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _brokers_under(path: Path) -> list[str]:
    res = subprocess.run(["pgrep", "-af", "mosquitto"], capture_output=True, text=True)
    return [line for line in res.stdout.splitlines() if str(path) in line]


async def test_run_on_a_busy_port_is_one_clean_line(tmp_path, busy_port):
    config = tmp_path / "hq.yaml"
    config.write_text(yaml.safe_dump({"commune": COMMUNE, "data_dir": str(tmp_path / "hq"),
                                      "embedded_broker": {"port": free_port()},
                                      "http": {"host": "127.0.0.1", "port": busy_port}}))
    code, out, err = await _run(BIN / "hq-server", "run", "--config", config, timeout=120)  # no hang
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "đang được chương trình khác dùng" in err and "already in use" in err and "Traceback" not in err
    assert _brokers_under(tmp_path) == [] and not (tmp_path / "hq" / "broker").exists()  # nothing was started


async def test_demo_on_a_busy_port_is_one_clean_line_and_leaves_nothing_running(tmp_path, busy_port):
    code, out, err = await _run(BIN / "loaxa-sim", "demo", "--once", "--data-dir", tmp_path / "demo",
                                "--http-port", str(busy_port), timeout=60)
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "already in use" in err and "Traceback" not in err, err
    assert _brokers_under(tmp_path) == []
