"""Provisioning a big simulated fleet: one credential per node, issued in one batch (not one rewrite each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaxa_link.credentials import HQ_USER, CredentialError, CredentialStore
from simulators.nodes import SimulatedLogins


def test_batch_issue_keeps_each_node_its_own_password_and_zones(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cred", "xa-test")
    logins = SimulatedLogins(store, tmp_path / "secrets")
    nodes = {f"loa-{i}": [f"thon-{i % 3}"] for i in range(2000)}
    writes = []
    save = store._save
    store._save = lambda creds: (writes.append(len(creds)), save(creds))[1]  # type: ignore[method-assign]

    overrides = logins.ensure(nodes)

    assert writes == [2000]  # one write of the store for the whole fleet
    assert overrides["loa-7"] == {"broker__username": "loa-7",
                                  "broker__password_file": str(tmp_path / "secrets" / "loa-7.password")}
    passwords = {n: logins.password_file(n).read_text().strip() for n in ("loa-1", "loa-2")}
    assert passwords["loa-1"] != passwords["loa-2"] and len(passwords["loa-1"]) >= 30
    assert logins.password_file("loa-1").stat().st_mode & 0o777 == 0o600
    assert store.get("loa-5").zones == ("thon-2",)

    # again with the same zones: nothing rewritten; one node moved: one write, the password kept
    writes.clear()
    logins.ensure(nodes)
    assert writes == []
    logins.ensure({**nodes, "loa-5": ["thon-9"]})
    assert writes == [2000] and store.get("loa-5").zones == ("thon-9",)
    assert logins.password_file("loa-1").read_text().strip() == passwords["loa-1"]


def test_batch_issue_refuses_what_a_single_issue_refuses(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cred", "xa-test")
    with pytest.raises(CredentialError):
        store.add_nodes({"loa-1": ["thon-1"], HQ_USER: []})
    with pytest.raises(ValueError):
        store.add_nodes({"loa/#": []})
    with pytest.raises(ValueError):
        store.add_nodes({"loa-1": ["thon 1"]})
    assert store.nodes() == []  # nothing half-written
    with pytest.raises(CredentialError, match="no credential"):
        store.set_zones_many({"loa-2": ["thon-1"]})
