"""``hq-server send`` through HQ's HTTP API: every broadcast is a bulletin HQ records, audits and reports.

Why not sign and publish from the CLI, as it once did? A bulletin sent straight to the broker played on
the nodes but existed nowhere at HQ: not in the bulletin list, the audit log or the broadcast report.
Now the CLI is one more API client (a bearer token of a broadcaster or admin), HQ validates the targets
(zone names, "did you mean"), renders, sends, tracks; the CLI follows the per-node delivery until every
node finished, ``--expect`` nodes did, or ``--timeout``. The old direct path remains behind ``--direct``
(:mod:`hq_server.send`), loudly marked as unrecorded.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from hq_server.config import HqConfig

TOKEN_ENV = "LOAXA_TOKEN"
FINISHED = {"played", "failed", "expired", "offline", "cancelled"}
BULLETIN_DONE = {"completed", "expired", "failed", "cancelled"}


class SendError(Exception):
    """A problem the CLI reports in one line (exit code 2)."""


def default_url(cfg: HqConfig) -> str:
    """Where HQ answers: its public URL, else its listen address (a wildcard address means this machine)."""
    if cfg.http.public_url:
        return cfg.http.public_url.rstrip("/")
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(cfg.http.host, cfg.http.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{cfg.http.scheme}://{host}:{cfg.http.port}"


def read_token(token_file: Path | None, env: str = TOKEN_ENV) -> str:
    """The API token from ``--token-file`` (first line), else from ``$LOAXA_TOKEN``."""
    if token_file is not None:
        try:
            token = token_file.read_text("utf-8").strip().splitlines()[0].strip() if token_file.stat().st_size else ""
        except OSError as err:
            raise SendError(f"không đọc được tệp token {token_file}: {err.strerror} (cannot read the token file)") \
                from err
        if not token:
            raise SendError(f"tệp token {token_file} trống (the token file is empty)")
        return token
    token = os.environ.get(env, "").strip()
    if not token:
        raise SendError(f"cần token API: --token-file TỆP hoặc biến môi trường {env}; tạo bằng hq-server "
                        f"create-user --token hoặc POST /api/v1/tokens (an API token is needed: --token-file or "
                        f"${env})")
    return token


def targets_from(args: list[str]) -> dict[str, Any]:
    """``all`` / ``zone:NAME`` (slug or Vietnamese name) / ``node:ID``, repeatable, into API targets."""
    out: dict[str, Any] = {"all": False, "zones": [], "nodes": []}
    for raw in args:
        kind, sep, ident = raw.partition(":")
        if raw == "all":
            out["all"] = True
        elif sep and kind in ("zone", "node") and ident.strip():
            out[f"{kind}s"].append(ident.strip())
        else:
            raise SendError(f"--target {raw!r}: dùng all, zone:TÊN hoặc node:MÃ (use all, zone:NAME or node:ID)")
    return out


def client_ssl(cfg: HqConfig, url: str) -> ssl.SSLContext | None:
    """For an HTTPS URL, trust HQ's own CA when there is one (``provisioning.ca_file``), else the system's."""
    if not url.startswith("https:"):
        return None
    ca = cfg.provisioning.ca_file or cfg.data_dir / "tls" / "ca.crt"
    return ssl.create_default_context(cafile=str(ca)) if Path(ca).exists() else ssl.create_default_context()


@dataclass
class Follower:
    """Prints each node's delivery state as it changes and decides the exit code."""

    out: TextIO = sys.stdout
    seen: dict[str, str] = field(default_factory=dict)
    line: Callable[[dict[str, Any]], str] = lambda d: (f"  {d['node']:<20} {d['state']:<11} "
                                                       f"{d.get('reason') or ''}".rstrip())

    def update(self, deliveries: list[dict[str, Any]]) -> None:
        for d in sorted(deliveries, key=lambda d: d["node"]):
            if self.seen.get(d["node"]) != d["state"]:
                self.seen[d["node"]] = d["state"]
                print(self.line(d), file=self.out, flush=True)

    def finished(self) -> dict[str, str]:
        return {n: s for n, s in self.seen.items() if s in FINISHED}

    def code(self) -> int:
        """0 every node that finished played, 1 some did not, 2 none finished."""
        done = self.finished()
        if not done:
            return 2
        return 0 if all(s == "played" for s in done.values()) else 1


async def send_via_api(url: str, token: str, body: dict[str, Any], *, timeout: float, expect: int | None,
                       ssl_context: ssl.SSLContext | None = None, out: TextIO = sys.stdout,
                       poll_s: float = 0.5) -> int:
    """Create the bulletin through HQ's API and follow its deliveries; returns the exit code."""
    headers = {"Authorization": f"Bearer {token}"}
    client_timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(headers=headers, timeout=client_timeout,
                                         connector=aiohttp.TCPConnector(ssl=ssl_context)) as http:
            bulletin = await _create(http, url, body)
            bid = bulletin["id"]
            print(f"HQ đã ghi nhận bản tin {bid} (bulletin recorded), trạng thái {bulletin['state']}: "
                  f"{url}/api/v1/bulletins/{bid}", file=out, flush=True)
            follower = Follower(out)
            state = await _follow(http, url, bid, follower, timeout=timeout, expect=expect, poll_s=poll_s)
    except aiohttp.ClientConnectionError as err:
        raise SendError(f"không kết nối được HQ tại {url} ({err}); HQ có đang chạy không? Gửi thẳng lên broker mà "
                        f"không được ghi lại: --direct (cannot reach HQ at {url}; is it running?)") from err
    finished = follower.finished()
    summary = ", ".join(f"{n}={s}" for n, s in sorted(finished.items())) or "-"
    print(f"bản tin {bid}: {state}; {len(finished)} loa đã xong (node(s) finished): {summary}", file=out, flush=True)
    return follower.code()


async def _create(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{url}/api/v1/bulletins", json=body) as resp:
        answer = await _json(resp)
        if resp.status == 401:
            raise SendError("HQ từ chối token (HQ refused the token: wrong, revoked or expired)")
        if resp.status == 403:
            raise SendError(f"tài khoản của token không được gửi bản tin (the token's account may not send "
                            f"bulletins): {answer.get('error', '')}")
        if resp.status >= 300:
            fields = "; ".join(f"{k}: {v}" for k, v in (answer.get("fields") or {}).items())
            raise SendError(f"HQ không nhận bản tin ({resp.status}): {answer.get('error', '')}"
                            + (f" — {fields}" if fields else ""))
        return dict(answer["bulletin"])


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"error": f"HTTP {resp.status}"}


async def _follow(http: aiohttp.ClientSession, url: str, bid: str, follower: Follower, *, timeout: float,
                  expect: int | None, poll_s: float) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = "?"
    while True:
        async with http.get(f"{url}/api/v1/bulletins/{bid}/deliveries") as resp:
            answer = await _json(resp)
        if resp.status == 200:
            state = answer["state"]
            follower.update(answer["deliveries"])
            all_done = bool(answer["deliveries"]) and len(follower.finished()) == len(answer["deliveries"])
            if state in BULLETIN_DONE or all_done or (expect is not None and len(follower.finished()) >= expect):
                return state
        if loop.time() > deadline:
            return state
        await asyncio.sleep(poll_s)


def api_body(text: str, title: str, priority: str, voice: str | None, targets: dict[str, Any],
             ttl_s: float | None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "title": title, "priority": priority, "targets": targets}
    if voice:
        body["voice"] = voice
    if ttl_s:
        body["expires_at"] = (datetime.now(UTC) + timedelta(seconds=ttl_s)).isoformat()
    return body
