"""On-disk outbox, amplifier relay, audio processing, verified fetch — no broker needed."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from edge_agent.control.acks import AckReporter
from edge_agent.control.outbox import ACK, HEALTH, DiskOutbox
from edge_agent.playback.amplifier import Amplifier, SimulatedRelay
from edge_agent.programme.fetch import AudioFetcher, FetchError
from loaxa_contract import codec
from loaxa_contract.models import Ack, AckStage, NodeHealth
from loaxa_link.mqtt import NotConnectedError
from loaxa_speech.audio import RenderOptions, decode, make_chime, render, to_wav
from tests.edge.helpers import fake_https, tone


class FakeLink:
    def __init__(self) -> None:
        self.up = False
        self.refuse = False  # connected, but publishes fail (a stalled broker)
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        if not self.up or self.refuse:
            raise NotConnectedError("down")
        self.sent.append((topic, payload))


def reporter(tmp_path, link: FakeLink, max_health: int = 3) -> AckReporter:
    return AckReporter("loa-1", "ack", link.publish, lambda: link.up,
                       outbox=DiskOutbox(tmp_path / "outbox", max_health=max_health), health_topic="health")


async def test_offline_acks_survive_restart_and_go_in_order_as_historical(tmp_path):
    link = FakeLink()
    rep = reporter(tmp_path, link)
    for i in range(5):
        await rep.ack(f"c{i}", AckStage.RECEIVED)
    for _ in range(6):
        await rep.health(NodeHealth(node="loa-1", uptime_s=1))
    rep2 = reporter(tmp_path, link)  # "reboot": a new reporter over the same directory
    assert rep2.pending == 5 + 3  # health bounded, oldest dropped, acks all kept
    link.up = True
    await rep2.flush()
    acks = [codec.decode_model(p, Ack) for t, p in link.sent if t == "ack"]
    assert [a.command_id for a in acks] == [f"c{i}" for i in range(5)]
    assert all(a.historical for a in acks)
    assert rep2.pending == 0
    await rep2.ack("live", AckStage.PLAYED)
    assert not codec.decode_model(link.sent[-1][1], Ack).historical


async def test_a_current_report_queued_behind_waiting_acks_is_not_historical(tmp_path):
    """At a reconnect the node's report (the list HQ reconciles) can queue behind acks of that same
    reconnect; it was produced online, so HQ must act on it — only offline or late reports are historical."""
    link = FakeLink()
    rep = reporter(tmp_path, link)
    await rep.ack("offline", AckStage.RECEIVED)  # produced while down: waits in the outbox
    link.up, link.refuse = True, True
    await rep.ack("racing", AckStage.RECEIVED)  # produced online, not sent yet
    await rep.health(NodeHealth(node="loa-1", uptime_s=1, bulletins=["b1"]))  # queued behind both
    link.refuse = False
    await rep.flush()
    sent = link.sent
    assert [t for t, _ in sent] == ["ack", "ack", "health"]
    assert codec.decode_model(sent[0][1], Ack).historical  # produced offline
    assert not codec.decode_model(sent[1][1], Ack).historical
    assert not codec.decode_model(sent[2][1], NodeHealth).historical


def test_outbox_ignores_interrupted_writes(tmp_path):
    box = DiskOutbox(tmp_path)
    box.put(ACK, b"{}", offline=True)
    (tmp_path / ".000000000001-ack-off.json.x.tmp").write_bytes(b"{")
    box2 = DiskOutbox(tmp_path)
    assert [e.kind for e in box2.entries()] == [ACK]
    assert box2.put(HEALTH, b"{}", offline=False).seq == 1


async def test_amplifier_warmup_hold_and_holders():
    relay = SimulatedRelay()
    amp = Amplifier(relay, warmup_s=0.05, hold_s=0.1)
    await amp.force_off()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await amp.acquire("play")
    assert loop.time() - t0 >= 0.045 and amp.on
    amp.release("play")
    await amp.acquire("play2")  # re-acquired inside the hold: no off/on flap, no warm-up
    amp.release("play2")
    await asyncio.sleep(0.2)
    assert [on for _, on in relay.transitions] == [False, True, False]
    assert relay.transitions[2][0] - relay.transitions[1][0] >= 0.15


def test_render_normalises_chimes_and_repeats():
    speech = decode(tone(1.0, "mp3", 300))
    quiet = speech.apply_gain(-25)
    out = render([quiet, quiet], RenderOptions(target_dbfs=-18, chime_before=True, chime_after=True, repeat=2,
                                               repeat_gap_s=0.5, chunk_gap_ms=100))
    chime = make_chime().duration_seconds
    expected = 2 * (2 * speech.duration_seconds + 0.1 + 2 * chime + 0.6) + 0.5
    assert out.duration_seconds == pytest.approx(expected, abs=0.15)
    assert out.frame_rate == 22050 and out.channels == 1 and out.max_dBFS <= -0.9
    body = render([quiet], RenderOptions(target_dbfs=-18))
    assert body.dBFS == pytest.approx(-18, abs=0.5)
    assert to_wav(body)[:4] == b"RIFF"


def test_join_has_no_click_at_the_seam():
    import numpy as np

    seg = decode(tone(0.5, "wav", 440))
    out = render([seg, seg], RenderOptions(chunk_gap_ms=0, target_dbfs=-12))
    samples = np.array(out.get_array_of_samples(), dtype=np.float64)
    seam = int(0.5 * out.frame_rate)
    jump = np.abs(np.diff(samples[seam - 50: seam + 50])).max()
    typical = np.abs(np.diff(samples[1000:2000])).max()
    assert jump <= typical * 1.05


def test_fetch_verifies_hash_and_keeps_file(tmp_path):
    mp3 = tone(0.5)
    sha = hashlib.sha256(mp3).hexdigest()
    with fake_https(mp3) as srv:
        fetcher = AudioFetcher(tmp_path, base_url=f"http://127.0.0.1:{srv.server_port}")
        assert fetcher.get(sha) == mp3
        with pytest.raises(FetchError, match="hash mismatch"):
            fetcher.get("0" * 64)
    assert fetcher.get(sha) == mp3  # from disk: the server is gone
    assert not list(tmp_path.glob(".*.tmp"))


async def test_an_undecodable_outbox_entry_is_set_aside_and_never_blocks_new_acks(tmp_path):
    link = FakeLink()
    rep = reporter(tmp_path, link)
    await rep.ack("before", AckStage.RECEIVED)
    # an ack written by another agent version (a field this one does not know), and a damaged file
    (tmp_path / "outbox" / "000000000001-ack-off.json").write_bytes(
        b'{"v":1,"ts":"2026-01-01T00:00:00Z","node":"loa-1","command_id":"c","stage":"played","extra":1}')
    (tmp_path / "outbox" / "000000000002-health-off.json").write_bytes(b"\x00\x01 not json")
    rep2 = reporter(tmp_path, link)
    reported: list[tuple[int, str]] = []
    rep2.on_unreadable = lambda n, detail: reported.append((n, detail))
    link.up = True
    await rep2.ack("after", AckStage.PLAYED)  # raised ContractError before: the node went silent
    assert [codec.decode_model(p, Ack).command_id for _, p in link.sent] == ["before", "after"]
    assert rep2.pending == 0
    aside = sorted(p.name for p in (tmp_path / "outbox" / "unreadable").iterdir())
    assert aside == ["000000000001-ack-off.json", "000000000002-health-off.json"]
    assert [n for n, _ in reported] == [1, 2] and "extra" in reported[0][1]


async def test_submit_stores_the_bulletin_before_acknowledging_it(tmp_path):
    """If the ack cannot be written, the accepted bulletin must already be on disk (it plays later)."""
    from datetime import timedelta

    from edge_agent.programme.player import Player
    from edge_agent.programme.store import BulletinStore
    from loaxa_contract.models import BulletinCommand, utcnow

    store = BulletinStore(tmp_path)
    rep = reporter(tmp_path, FakeLink())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    rep.outbox.put = disk_full
    player = Player.__new__(Player)  # only submit's ordering is exercised here
    player.store, player.acks, player.known = store, rep, set()
    cmd = BulletinCommand(id="c1", seq=1, target="all", bulletin_id="b1", text="Xin chào",
                          expires_at=utcnow() + timedelta(minutes=5))
    with pytest.raises(OSError):
        await player.submit(cmd)
    assert store.get("b1") == cmd
