"""API routes added for the web UI: how a text will be read, hear-test rendering, calendar, the live event
stream, re-send to failed loudspeakers, browser recordings (WebM) stored as WAV. Real HQ, real espeak-ng."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta

from hq_server.ui.fmt import TZ
from tests.hq.fixtures import Hq


async def test_normalise_and_preview(hq: Hq) -> None:
    status, body = await hq.call("POST", "/api/v1/speech/normalise", role="broadcaster",
                                 json={"text": "Họp lúc 7h30 tại UBND xã."})
    assert status == 200 and "bảy giờ ba mươi" in body["normalised"], body
    status, body = await hq.call("POST", "/api/v1/speech/normalise", role="broadcaster", json={"text": "   "})
    assert status == 400 and "text" in body["fields"]
    status, _ = await hq.call("POST", "/api/v1/speech/preview", role="police", json={"text": "Xin chào"})
    assert status == 403

    status, body = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster",
                                 json={"text": "Xin chào bà con thôn Một."})
    assert status == 200, body
    assert body["engines"] == ["espeak"] and body["quality"] == "robotic" and body["duration_s"] > 0.5
    async with hq.client.get(body["url"]) as resp:
        assert resp.status == 200 and resp.content_type == "audio/wav" and len(await resp.read()) > 1000
    # sending the same text reuses the hear-test rendering
    assert (await hq.call("PUT", "/api/v1/nodes/ghost", role="technician", json={}))[0] == 201
    status, created = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Xin chào bà con thôn Một.", "targets": {"nodes": ["ghost"]}})
    assert status == 201 and created["bulletin"]["audio_sha256"] == body["sha256"]


async def test_calendar_lists_series_by_day_and_zone(hq: Hq) -> None:
    await hq.add_zones("thon-1", "thon-2")
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Vệ sinh", "text": "Mời bà con vệ sinh đường làng.", "targets": {"zones": ["thon-2"]},
        "recurrence": {"kind": "weekly", "at": "06:30", "weekdays": [tomorrow.weekday()],
                       "end_date": (tomorrow + timedelta(days=14)).isoformat()},
        "expires_at": datetime.combine(tomorrow + timedelta(days=14), datetime.max.time(), TZ).isoformat()})
    assert status == 201, body
    status, cal = await hq.call("GET", f"/api/v1/calendar?from={datetime.now(TZ).date()}&days=7", role="technician")
    assert status == 200
    starts = [e["start"] for e in cal["entries"] if e["title"] == "Vệ sinh"]
    assert starts == [datetime.combine(tomorrow, datetime.min.time().replace(hour=6, minute=30), TZ).isoformat()]
    _, other = await hq.call("GET", "/api/v1/calendar?days=7&zone=thon-1")
    assert [e for e in other["entries"] if e["title"] == "Vệ sinh"] == []
    status, bad = await hq.call("GET", "/api/v1/calendar?from=28/11/2026")
    assert status == 400 and "from" in bad["fields"]
    status, bad = await hq.call("GET", "/api/v1/calendar?days=99")
    assert status == 400


async def _events(hq: Hq, bid: str, until: str, timeout: float = 30.0) -> list[tuple[str, dict]]:
    """Read the event stream as a browser would (bearer token here) until an event named ``until``."""
    out: list[tuple[str, dict]] = []
    async with hq.client.get(f"/api/v1/bulletins/{bid}/events", headers=hq.headers("broadcaster")) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        name = ""

        async def read() -> None:
            nonlocal name
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    out.append((name, json.loads(line[6:])))
                    if name == until:
                        return

        await asyncio.wait_for(read(), timeout)
    return out


async def test_event_stream_and_resend_to_failed(hq: Hq) -> None:
    await hq.add_zones("thon-9")
    status, body = await hq.call("PUT", "/api/v1/nodes/ghost", role="technician", json={"zones": ["thon-9"]})
    assert status == 201
    expires = datetime.now(UTC) + timedelta(seconds=3)
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Thử", "text": "Bản tin thử.", "targets": {"zones": ["thon-9"]}, "expires_at": expires.isoformat()})
    assert status == 201
    bid = body["bulletin"]["id"]
    status, _ = await hq.call("POST", f"/api/v1/bulletins/{bid}/resend", role="broadcaster", json={})
    assert status == 409  # nothing failed yet

    events = await _events(hq, bid, "end")
    first = events[0][1]["deliveries"][0]
    assert first["node"] == "ghost" and first["state_text"] == "Đang gửi"
    assert first["villages"] == ["Thôn 9"] and "mất kết nối" in first["reason_text"]
    last = [d for n, d in events if n == "deliveries"][-1]
    assert last["deliveries"][0]["state"] == "offline" and last["failed"] == ["ghost"] and last["done"]
    assert events[-1] == ("end", {"state": "expired"})  # no loudspeaker played it

    status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/resend", role="broadcaster",
                                 json={"nodes": ["someone-else"]})
    assert status == 400 and "nodes" in body["fields"]
    status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/resend", role="broadcaster", json={})
    assert status == 201 and body["nodes"] == ["ghost"] and body["resent_from"] == bid
    assert body["bulletin"]["targets"] == {"all": False, "zones": [], "nodes": ["ghost"]}
    assert body["bulletin"]["text"] == "Bản tin thử." and body["bulletin"]["id"] != bid


async def test_browser_recording_is_stored_as_wav(hq: Hq, tmp_path) -> None:
    webm = tmp_path / "rec.webm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                    "-c:a", "libopus", str(webm)], check=True)
    status, body = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=webm.read_bytes(),
                                 headers={"Content-Type": "audio/webm"})
    assert status == 201, body
    assert 1.8 < body["duration_s"] < 2.3
    async with hq.client.get(body["url"]) as resp:
        assert resp.content_type == "audio/wav"
    status, body = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=b"not audio" * 100,
                                 headers={"Content-Type": "audio/webm"})
    assert status == 400 and "file" in body["fields"]
