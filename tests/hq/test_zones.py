"""The zone registry: Vietnamese names, references by slug or name, "did you mean" for typos, CRUD by role,
and every API that names a zone or a node checked against the registry (real HQ app, SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from hq_server.services.zones import Registry, ZoneRef, slugify
from hq_server.storage.db import Database, alembic_config
from hq_server.storage.tables import Zone
from loaxa_contract import codec, topics
from loaxa_contract.models import NodeState
from tests.conftest import COMMUNE

TEXT = "Mời bà con thôn Một họp lúc 19 giờ."
REGISTRY = Registry([ZoneRef("thon-1", "Thôn 1"), ZoneRef("thon-2", "Thôn 2"), ZoneRef("ben-do", "Xóm Bến Đò")])


def test_references_by_slug_or_name_regardless_of_case_and_diacritics():
    assert slugify("Xóm Bến Đò") == "xom-ben-do"
    for ref in ("thon-1", "Thôn 1", "thôn 1", "THON 1", " Thôn  1 "):
        assert REGISTRY.find(ref) == "thon-1", ref
    assert REGISTRY.find("Xóm Bến Đò") == "ben-do" and REGISTRY.find("ben-do") == "ben-do"
    assert REGISTRY.find("thon-7") is None and REGISTRY.find("thon-l") is None


def test_typos_get_the_closest_zones():
    assert REGISTRY.suggest("thon-l")[0].slug == "thon-1"
    assert "did you mean 'thon-1' (Thôn 1)" in REGISTRY.unknown_message("thon-l")
    assert {z.slug for z in REGISTRY.suggest("thon-7")} == {"thon-1", "thon-2"}
    assert "POST /api/v1/zones" in Registry([]).unknown_message("thon-1")


async def test_zone_crud_by_role_with_vietnamese_names(hq):
    status, body = await hq.call("POST", "/api/v1/zones", role="technician", json={"name": "Thôn 1"})
    assert status == 201 and body["zone"]["slug"] == "thon-1" and body["zone"]["name"] == "Thôn 1", body
    assert (await hq.call("POST", "/api/v1/zones", role="broadcaster", json={"name": "Thôn 2"}))[0] == 403
    status, body = await hq.call("POST", "/api/v1/zones", role="technician", json={"name": "thôn 1", "slug": "t1"})
    assert status == 409 and "thon-1" in body["error"]  # the same name, spelt differently
    assert (await hq.call("POST", "/api/v1/zones", role="admin", json={"name": "X", "slug": "thon-1"}))[0] == 409
    status, body = await hq.call("POST", "/api/v1/zones", role="admin", json={"name": "Xóm Bến Đò", "slug": "Bến"})
    assert status == 400 and "slug" in body["fields"]

    assert (await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={"zones": ["Thôn 1"]}))[0] == 201
    assert (await hq.call("PUT", "/api/v1/nodes/cam-1", role="technician",
                          json={"kind": "camera", "zones": ["thon-1"]}))[0] == 201
    status, body = await hq.call("GET", "/api/v1/zones", role="broadcaster")
    assert status == 200 and body["zones"] == [{
        "slug": "thon-1", "name": "Thôn 1", "node_count": 2, "speaker_count": 1, "online_count": 0,
        "nodes": ["cam-1", "loa-1"], "created_by": "technician-1", "updated_at": body["zones"][0]["updated_at"]}]
    status, body = await hq.call("PATCH", "/api/v1/zones/Thôn 1", role="technician", json={"name": "Thôn Một"})
    assert status == 200 and body["zone"]["name"] == "Thôn Một"
    assert (await hq.call("GET", "/api/v1/zones/thon-mot", role="broadcaster"))[1]["zone"]["slug"] == "thon-1"
    status, body = await hq.call("DELETE", "/api/v1/zones/thon-1", role="technician")
    assert status == 409 and "loa-1" in body["error"]
    status, body = await hq.call("GET", "/api/v1/zones/thon-l", role="broadcaster")
    assert status == 404 and "thon-1" in body["fields"]["zone"]


async def test_targets_are_checked_against_the_registry(hq):
    await hq.add_zones("thon-1", "thon-2")
    assert (await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={"zones": ["thon-1"]}))[0] == 201

    async def post(targets: dict) -> tuple[int, dict]:
        return await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={"text": TEXT, "targets": targets})

    status, body = await post({"zones": ["thon-7"]})
    assert status == 400, body  # used to be 201, active, and reach nobody
    assert "thon-1" in body["fields"]["targets.zones.0"] and "did you mean" in body["fields"]["targets.zones.0"]
    status, body = await post({"zones": ["thon-2", "thon-l"]})
    assert status == 400 and set(body["fields"]) == {"targets.zones.1"}
    status, body = await post({"nodes": ["loa-l"]})
    assert status == 400 and "'loa-1'" in body["fields"]["targets.nodes.0"]
    status, body = await post({"zones": ["Thôn 1", "thon-1"]})
    assert status == 201 and body["bulletin"]["targets"]["zones"] == ["thon-1"], body  # name → slug, once

    status, body = await hq.call("PUT", "/api/v1/zones/thon-l/programme", role="broadcaster",
                                 json={"windows": [{"start": "06:00", "end": "07:00"}]})
    assert status == 400 and "thon-1" in body["fields"]["zone"], body  # used to be 200 with no node
    status, body = await hq.call("PUT", "/api/v1/zones/thon-9/volume", role="broadcaster", json={"volume": 40})
    assert status == 400, body
    status, body = await hq.call("PUT", "/api/v1/nodes/loa-2", role="technician", json={"zones": ["thon-3"]})
    assert status == 400 and "zones.0" in body["fields"], body
    status, body = await hq.call("PUT", "/api/v1/cameras/cam-1", role="technician", json={"zone": "Thon 2"})
    assert status == 201 and body["camera"]["zone"] == "thon-2", body


async def test_zones_claimed_by_nodes_are_registered(hq):
    """A node's own configuration is its first claim: its zones become known (named by their slug)."""
    await hq.orch.handle(topics.node_state(COMMUNE, "loa-5"),
                         codec.encode(NodeState(node="loa-5", state="online", zones=["thon-5"])))
    status, body = await hq.call("GET", "/api/v1/zones/thon-5", role="broadcaster")
    assert status == 200 and body["zone"]["name"] == "thon-5" and body["zone"]["created_by"] == "node:loa-5"
    assert body["zone"]["nodes"] == ["loa-5"]


async def test_migration_registers_the_zones_already_in_use(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'hq.sqlite3'}"
    db = Database(url)

    def to(revision: str):
        def run(conn) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return run

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(to("0011"))
            now = datetime.now(UTC).replace(tzinfo=None)
            await conn.execute(text("INSERT INTO nodes (id, kind, zones, location, registered, state, state_since, "
                                    "agent_version, offline_alerted) VALUES ('loa-1', 'speaker', '[\"thon-1\", "
                                    "\"thon-2\"]', '', 1, 'online', :t, '', 0)"), {"t": now})
            await conn.execute(text("INSERT INTO desired_settings (scope, scope_id, kind, value, updated_by, "
                                    "updated_at) VALUES ('zone', 'xom-3', 'volume', '{}', 'x', :t)"), {"t": now})
            await conn.run_sync(to("head"))
        async with db.sessions() as s:
            assert sorted((await s.scalars(select(Zone.slug))).all()) == ["thon-1", "thon-2", "xom-3"]
    finally:
        await db.close()
