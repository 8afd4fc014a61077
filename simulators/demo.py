"""The one-machine main job: HQ (embedded Mosquitto, SQLite) + a simulated village, end to end.

HQ runs for real (aiohttp app, migrations, orchestrator, embedded broker); the village is real edge
agents whose only simulated parts are the sound card (file sink: each played bulletin is a WAV) and
the amplifier relay. A sample bulletin goes in through HQ's REST API, exactly as a broadcaster's
browser sends it, and the per-node delivery HQ tracks is printed. Then HQ keeps serving on
http://127.0.0.1:8080 with the village attached until Ctrl-C (``--once`` exits instead).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from hq_server.app import BROKER_PORT, create_app
from hq_server.broker import broker_dir, credential_store
from hq_server.config import HqConfig
from hq_server.ports import port_problem_message
from hq_server.services.users import create_user, user_count
from hq_server.storage.db import Database
from loaxa_common.process import stop_on_signals
from simulators.nodes import SimulatedLogins
from simulators.village import Village

COMMUNE = "xa-demo"
DEMO_TEXT = (
    "Loa truyền thanh xã xin thông báo: sáng mai, ngày 25/11, UBND xã tổ chức tiêm phòng cho đàn gia súc "
    "tại nhà văn hóa thôn 1 từ 7h30. Đề nghị bà con đưa vật nuôi đến đúng giờ."
)
TERMINAL = {"played", "failed", "expired", "offline", "cancelled", "rejected"}
BULLETIN_DONE = {"completed", "cancelled", "expired"}


def hq_config(data_dir: Path, http_port: int) -> HqConfig:
    return HqConfig.model_validate({
        "commune": COMMUNE, "data_dir": str(data_dir / "hq"),
        "embedded_broker": {"port": 0},  # a free port: Debian's own mosquitto may hold 1883
        "http": {"host": "127.0.0.1", "port": http_port},
        "bulletins": {"tts_engines": ["espeak"]},  # offline: the demo must not need the Internet
    })


async def admin_token(cfg: HqConfig, data_dir: Path) -> tuple[str, str]:
    """Create the demo admin once; keep its password and API token in data_dir (mode 0600)."""
    secret_file = data_dir / "admin.secret"
    if secret_file.exists():
        password, token = secret_file.read_text().split()
        return password, token
    password = "demo-" + secrets.token_urlsafe(9)
    db = await Database(cfg.database_url).open()
    try:
        async with db.sessions() as s:
            if await user_count(s):
                raise RuntimeError(f"{cfg.data_dir} has users but {secret_file} is missing: use a new --data-dir")
            token = await create_user(s, "admin", password, "admin", full_name="Quản trị demo", with_token=True)
    finally:
        await db.close()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{password} {token}\n")
    return password, token


async def wait_known_at_hq(base: str, token: str, node_ids: list[str], timeout: float = 60.0) -> None:
    """Until HQ lists every node online (their zone claims registered): a zone HQ does not know is refused."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            async with http.get(f"{base}/api/v1/nodes") as resp:
                online = {n["id"] for n in (await resp.json())["nodes"] if n["state"] == "online"}
            if set(node_ids) <= online:
                return
            if loop.time() > deadline:
                raise RuntimeError(f"HQ sees {sorted(online)} online, expected {sorted(node_ids)}")
            await asyncio.sleep(0.2)


async def send_and_track(base: str, token: str, text: str, zones: list[str], timeout: float) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/api/v1/bulletins", json={
            "title": "Thông báo tiêm phòng", "text": text, "targets": {"zones": zones}}) as resp:
            body = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"HQ refused the bulletin ({resp.status}): {body}")
        bid = body["bulletin"]["id"]
        print(f"bulletin {bid} accepted by HQ for zones {', '.join(zones)}; waiting for the village…", flush=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with http.get(f"{base}/api/v1/bulletins/{bid}/deliveries") as resp:
                state = await resp.json()
            deliveries = state["deliveries"]
            done = state["state"] in BULLETIN_DONE and deliveries and all(d["state"] in TERMINAL for d in deliveries)
            if done or loop.time() > deadline:
                return state
            await asyncio.sleep(0.5)


def print_deliveries(state: dict) -> None:
    print(f"\nbulletin {state['bulletin']}: {state['state']}")
    for d in sorted(state["deliveries"], key=lambda d: d["node"]):
        extra = d.get("reason") or ""
        print(f"  {d['node']:<16} {d['state']:<10} {extra}")


async def run_demo(data_dir: Path, *, text: str = DEMO_TEXT, http_port: int = 8080, zones: int = 2,
                   per_zone: int = 2, once: bool = False, timeout: float = 120.0) -> int:
    data_dir = data_dir.resolve()
    cfg = hq_config(data_dir, http_port)
    password, token = await admin_token(cfg, data_dir)
    app = create_app(cfg)
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()  # database, embedded broker, orchestrator
    except BaseException:
        await runner.cleanup()  # stop what started (the broker): no orphan
        raise
    village: Village | None = None
    try:
        try:
            await web.TCPSite(runner, "127.0.0.1", http_port).start()
        except OSError as err:  # taken since the check in the CLI: one line, and the broker stops below
            print(f"lỗi (error): {port_problem_message('127.0.0.1', http_port, err)}", file=sys.stderr)
            return 2
        base = f"http://127.0.0.1:{http_port}"
        print(f"HQ for commune {COMMUNE} on {base} (embedded Mosquitto on 127.0.0.1:{app[BROKER_PORT]})", flush=True)
        # each simulated node gets its own broker login, as `hq-server node-credential add` issues one
        logins = SimulatedLogins(credential_store(cfg), data_dir / "village" / "secrets", broker_dir(cfg))
        village = Village(data_dir / "village", COMMUNE, app[BROKER_PORT], cfg.key_path.with_suffix(".pub"),
                          sink="file", overrides={"audio__hq_url": base}, logins=logins)
        await village.start(zones=zones, per_zone=per_zone)
        await wait_known_at_hq(base, token, [a.config.node.id for a in village.agents])
        print(f"simulated village online: {', '.join(a.config.node.id for a in village.agents)}", flush=True)
        state = await send_and_track(base, token, text, ["thon-1"], timeout)
        print_deliveries(state)
        played = [a for a in village.agents if a.config.node.zones == ["thon-1"]]
        for agent in played:
            for wav in sorted(agent.config.audio.file_dir.glob("*.wav"))[-1:]:
                print(f"  {agent.config.node.id} played {wav}")
        ok = all(d["state"] == "played" for d in state["deliveries"])
        if once:
            return 0 if ok else 1
        print(f"\nHQ keeps running. Web UI: {base}/login  (user admin, password {password}; API token in "
              f"{data_dir / 'admin.secret'}). Ctrl-C to stop.", flush=True)
        await stop_on_signals().wait()
        return 0
    finally:
        if village is not None:
            await village.stop()
        await runner.cleanup()
