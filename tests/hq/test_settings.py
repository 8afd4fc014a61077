"""Programme / volume API: field-level validation, roles, desired state stored even for nodes not seen yet."""

from __future__ import annotations

ZONE = "/api/v1/zones/thon-1/programme"


async def test_programme_validation_gives_field_level_errors(hq):
    await hq.add_zones("thon-1")
    async def put(body, path=ZONE):
        return await hq.call("PUT", path, role="broadcaster", json=body)

    status, body = await put({"windows": [{"start": "6:00", "end": "24:00"}, {"start": "10:00", "end": "10:00"}]})
    assert status == 400, body
    assert set(body["fields"]) == {"windows.0.start", "windows.0.end", "windows.1.end"}, body
    assert "end < start" in body["fields"]["windows.1.end"]  # explains how to write an overnight window
    status, body = await put({"windows": [{"start": "06:00", "end": "08:00"}, {"start": "07:30", "end": "09:00"}]})
    assert status == 400 and set(body["fields"]) == {"windows.1"} and "overlaps" in body["fields"]["windows.1"]
    status, body = await put({"windows": [{"start": "06:00", "end": "08:00", "days": [0, 7, 7]}]})
    assert status == 400 and set(body["fields"]) == {"windows.0.days"}
    status, body = await put({"windows": [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(24)]
                              + [{"start": "23:40", "end": "23:50"}]})
    assert status == 400 and set(body["fields"]) == {"windows"}
    status, body = await put({"windows": [], "quiet_start": "22:00", "timezone": "Mars/Olympus"})
    assert status == 400 and set(body["fields"]) == {"quiet_end", "timezone"}, body
    status, body = await put({"windows": [{"start": "06:00", "end": "07:00", "colour": "red"}]})
    assert status == 400 and "windows.0.colour" in body["fields"]
    status, body = await put({"windows": [{"start": "06:00", "end": "07:00"}]}, "/api/v1/zones/thon-l/programme")
    assert status == 400 and "'thon-1' (Thôn 1)" in body["fields"]["zone"], body  # did you mean
    status, body = await put({"windows": [{"start": "06:00", "end": "07:00"}]}, "/api/v1/zones/Thôn 1/programme")
    assert status == 200 and body["id"] == "thon-1", body  # by its Vietnamese name
    status, body = await hq.call("PUT", "/api/v1/zones/thon-1/volume", role="technician", json={"volume": 101})
    assert status == 400 and set(body["fields"]) == {"volume"}

    # overnight (22:00 → 02:00 next day) is accepted and reported as such; 24 windows are fine
    status, body = await put({"windows": [{"start": "05:00", "end": "06:30"}, {"start": "22:00", "end": "02:00"}],
                              "quiet_start": "23:00", "quiet_end": "05:00"})
    assert status == 200, body
    assert body["overnight"] == [1] and body["nodes"] == []  # no node in the zone yet: stored, sent later
    assert body["desired"]["windows"][1] == {"start": "22:00:00", "end": "02:00:00", "days": list(range(7))}
    status, body = await put({"windows": [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(24)]})
    assert status == 200, body
    _, listing = await hq.call("GET", "/api/v1/settings", role="technician")
    assert [(d["scope"], d["id"], d["kind"]) for d in listing["desired"]] == [("zone", "thon-1", "programme")]


async def test_settings_roles_and_unknown_node(hq):
    await hq.add_zones("thon-1")
    body = {"windows": [{"start": "06:00", "end": "07:00"}]}
    assert (await hq.call("PUT", ZONE, role="police", json=body))[0] == 403
    assert (await hq.call("PUT", "/api/v1/zones/thon-1/volume", role="police", json={"volume": 50}))[0] == 403
    assert (await hq.call("GET", "/api/v1/settings", role="police"))[0] == 403
    status, resp = await hq.call("PUT", "/api/v1/nodes/ghost/volume", role="technician", json={"volume": 50})
    assert status == 404 and "register" in resp["error"]
    _, audit = await hq.call("GET", "/api/v1/audit?limit=10")
    assert [e["status"] for e in audit["audit"][:3]] == [404, 403, 403]
