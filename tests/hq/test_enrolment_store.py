"""HQ's enrolment store: encrypted at rest, one use, expiry, one winner among simultaneous redeems."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from hq_server.enrolment import EnrolmentError, EnrolmentStore

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
PAYLOAD = {"node": "loa-1", "files": {"mqtt-password": "mat-khau-bi-mat\n"}}


def test_redeem_once_and_nothing_in_clear(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    secret = store.create("loa-1", PAYLOAD, 600, NOW)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert b"mat-khau" not in files[0].read_bytes() and secret not in files[0].name
    assert store.pending(NOW) and store.pending(NOW)[0].node == "loa-1"
    assert store.redeem(secret, NOW) == ("loa-1", PAYLOAD)
    with pytest.raises(EnrolmentError) as again:
        store.redeem(secret, NOW)
    assert again.value.reason == "unknown"
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("*.taken"))


def test_expired_and_unknown(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    secret = store.create("loa-1", PAYLOAD, 60, NOW)
    with pytest.raises(EnrolmentError) as err:
        store.redeem(secret, NOW + dt.timedelta(seconds=61))
    assert err.value.reason == "expired"
    with pytest.raises(EnrolmentError) as err:
        store.redeem("00000000", NOW)
    assert err.value.reason == "unknown"


def test_pending_purges_expired_and_cancel_by_node(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    store.create("loa-1", PAYLOAD, 60, NOW)
    keep = store.create("loa-2", PAYLOAD, 3600, NOW)
    store.create("loa-2", PAYLOAD, 3600, NOW)
    assert [p.node for p in store.pending(NOW + dt.timedelta(minutes=5))] == ["loa-2", "loa-2"]
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert store.cancel("loa-2") == 2
    with pytest.raises(EnrolmentError):
        store.redeem(keep, NOW)


def test_tampered_record_is_refused(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    secret = store.create("loa-1", PAYLOAD, 600, NOW)
    path = next(tmp_path.glob("*.json"))
    record = json.loads(path.read_text())
    record["node"] = "loa-9"  # the node id is authenticated data: re-targeting breaks decryption
    path.write_text(json.dumps(record))
    with pytest.raises(EnrolmentError):
        store.redeem(secret, NOW)


def test_simultaneous_redeems_have_one_winner(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    secret = store.create("loa-1", PAYLOAD, 600, NOW)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(store.redeem(secret, NOW))
        except EnrolmentError as err:
            results.append(err.reason)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(("loa-1", PAYLOAD)) == 1 and results.count("unknown") == 7
