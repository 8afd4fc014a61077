"""CAP 1.2 import: the pure mapper (table-driven, small samples) and the API end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hq_server.services.cap import MAX_CAP_BYTES, CapError, cap_to_bulletin, slug

ZONES = {"thon-1", "thon-2", "thon-dong"}


def in_h(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def info(lang: str = "vi-VN", headline: str = "Cảnh báo lũ", urgency: str = "Immediate", severity: str = "Severe",
         description: str = "Mưa lớn gây lũ trên sông.", instruction: str = "Di chuyển lên vùng cao.",
         area: str = "<area><areaDesc>Thôn 1</areaDesc></area>", expires: str = "") -> str:
    exp = f"<expires>{expires}</expires>" if expires else ""
    return (f"<info><language>{lang}</language><category>Met</category><event>Lũ</event><urgency>{urgency}</urgency>"
            f"<severity>{severity}</severity><certainty>Likely</certainty>{exp}<headline>{headline}</headline>"
            f"<description>{description}</description><instruction>{instruction}</instruction>{area}</info>")


def cap(*infos: str, status: str = "Actual", msg_type: str = "Alert", ident: str = "VN-KTTV-1",
        refs: str = "", prolog: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    r = f"<references>{refs}</references>" if refs else ""
    return (f'{prolog}<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{ident}</identifier>'
            f"<sender>kttv@example.vn</sender><sent>2024-09-07T10:00:00+07:00</sent><status>{status}</status>"
            f"<msgType>{msg_type}</msgType><scope>Public</scope>{r}{''.join(infos)}</alert>").encode()


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>')


@pytest.mark.parametrize(("doc", "expected"), [
    (cap(info()), {"status": "actual", "priority": "emergency", "targets": {"zones": ["thon-1"]},
                   "title": "Cảnh báo lũ", "text": "Mưa lớn gây lũ trên sông.\n\nDi chuyển lên vùng cao."}),
    (cap(info(urgency="Expected", severity="Moderate")), {"priority": "priority"}),
    (cap(info(urgency="Future", severity="Extreme")), {"priority": "emergency"}),
    (cap(info(urgency="Expected", severity="Minor")), {"priority": "normal"}),
    (cap(info(urgency="Future", severity="Moderate")), {"priority": "normal"}),
    (cap(info(), status="Exercise"), {"status": "test"}),
    (cap(info(), status="Test"), {"status": "test"}),
    # Vietnamese info preferred over an earlier English one
    (cap(info(lang="en-US", headline="Flood warning"), info(lang="vi", headline="Cảnh báo lũ")),
     {"title": "Cảnh báo lũ"}),
    (cap(info(lang="en-US", headline="Flood warning"), info(lang="fr", headline="Crue")), {"title": "Flood warning"}),
    # geocode values and several areaDesc items (with đ) → zones
    (cap(info(area="<area><areaDesc>Thôn Đông; Thôn 2</areaDesc></area>")),
     {"targets": {"zones": ["thon-dong", "thon-2"]}}),
    (cap(info(area="<area><areaDesc>xã</areaDesc><geocode><valueName>zone</valueName><value>thon-2</value>"
                   "</geocode></area>")), {"targets": {"zones": ["thon-2"]}}),
    (cap(info(instruction="")), {"text": "Mưa lớn gây lũ trên sông."}),
])
def test_mapper(doc: bytes, expected: dict) -> None:
    result = cap_to_bulletin(doc, ZONES)
    assert result.msg_type == "Alert" and result.identifier == "VN-KTTV-1" and result.sender == "kttv@example.vn"
    assert result.bulletin is not None
    for key, value in expected.items():
        assert result.bulletin[key] == value, (key, result.bulletin)


def test_mapper_expires_and_override() -> None:
    exp = in_h(2)
    result = cap_to_bulletin(cap(info(expires=exp, area="<area><areaDesc>Huyện khác</areaDesc></area>")), ZONES,
                             all_targets=True)
    assert result.bulletin is not None and result.bulletin["targets"] == {"all": True}
    assert datetime.fromisoformat(result.bulletin["expires_at"]) == datetime.fromisoformat(exp)


def test_mapper_cancel_keeps_references() -> None:
    result = cap_to_bulletin(cap(msg_type="Cancel", ident="VN-KTTV-2",
                                 refs="kttv@example.vn,VN-KTTV-1,2024-09-07T10:00:00+07:00"), ZONES)
    assert result.msg_type == "Cancel" and result.bulletin is None
    assert result.references == [("kttv@example.vn", "VN-KTTV-1")]


def utf16(doc: bytes, codec: str = "utf-16") -> bytes:
    """The same document in UTF-16 (with a BOM for ``utf-16``), its declaration saying so."""
    text = doc.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    return text.encode(codec)


def test_mapper_reads_any_encoding_the_parser_knows() -> None:
    doc = cap(info(), prolog='<?xml version="1.0" encoding="UTF-16"?>').decode()
    assert cap_to_bulletin(doc.encode("utf-16"), ZONES).bulletin["title"] == "Cảnh báo lũ"  # type: ignore[index]
    latin = cap(info(headline="Alerte crue", area="<area><areaDesc>Thon 2</areaDesc></area>"),
                prolog='<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert cap_to_bulletin(latin, ZONES).bulletin["targets"] == {"zones": ["thon-2"]}  # type: ignore[index]


@pytest.mark.parametrize(("doc", "zones", "message", "status"), [
    (BOMB, ZONES, "DOCTYPE", 400),
    (b'<!DOCTYPE alert SYSTEM "file:///etc/passwd"><alert/>', ZONES, "DOCTYPE", 400),
    (b"x" * (MAX_CAP_BYTES + 1), ZONES, "KiB", 413),
    (cap(info(), status="Draft"), ZONES, "not broadcastable", 400),
    (cap(info(), status="System"), ZONES, "not broadcastable", 400),
    (cap(info(), msg_type="Ack"), ZONES, "not broadcastable", 400),
    (cap(info(description="x" * 5000)), ZONES, "too long", 400),
    (cap(info(area="<area><areaDesc>Huyện khác</areaDesc></area>")), ZONES, "known zones: thon-1, thon-2", 400),
    (cap(info(expires="2024-09-07 16:00")), ZONES, "time zone", 400),
    (cap(msg_type="Cancel"), ZONES, "references", 400),
    (cap(), ZONES, "info", 400),
    (b"<alert><identifier>x</identifier></alert>", ZONES, "CAP 1.2", 400),
    (b"<alert", ZONES, "invalid XML", 400),
    # the declaration says UTF-16, the bytes are UTF-8: the parser notices
    (cap(info(), prolog='<?xml version="1.0" encoding="UTF-16"?>'), ZONES, "invalid XML", 400),
    (cap(info(), prolog='<?xml version="1.0" encoding="x-no-such"?>'), ZONES, "unknown encoding", 400),
    # DOCTYPE/ENTITY refused inside the parser whatever the encoding: a byte pattern misses UTF-16
    (utf16(BOMB), ZONES, "DOCTYPE", 400),
    (utf16(BOMB, "utf-16-be"), ZONES, "DOCTYPE", 400),
    (utf16(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>'),
     ZONES, "DOCTYPE", 400),
    (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&#xD800;</identifier></alert>', ZONES,
     "invalid XML", 400),
])
def test_mapper_refuses(doc: bytes, zones: set[str], message: str, status: int) -> None:
    with pytest.raises(CapError) as err:
        cap_to_bulletin(doc, zones)
    assert message in err.value.message and err.value.status == status


def test_slug() -> None:
    assert slug("Thôn Đông 1") == "thon-dong-1" and slug(" Xóm  Bến/") == "xom-ben"


async def test_api_imports_a_cap_alert_then_cancels_it(hq):
    await hq.add_zones("thon-1")
    status, _ = await hq.call("PUT", "/api/v1/nodes/loa-1", role="technician", json={"zones": ["thon-1"]})
    assert status == 201
    xml = {"Content-Type": "application/cap+xml"}
    doc = cap(info(urgency="Expected", severity="Moderate", expires=in_h(1)))
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=doc, headers=xml)
    assert status == 201, resp
    b = await hq.wait_bulletin(resp["bulletin"]["id"], "active")  # sent off the request
    assert b["priority"] == "priority" and b["targets"]["zones"] == ["thon-1"]
    assert b["cap_identifier"] == "VN-KTTV-1" and b["title"] == "Cảnh báo lũ" and b["status"] == "actual"
    assert b["audio_sha256"]  # rendered like any text bulletin
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=doc, headers=xml)
    assert status == 409 and b["id"] in resp["error"]  # the same alert twice is not broadcast twice

    assert (await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=BOMB, headers=xml))[0] == 400
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=utf16(BOMB), headers=xml)
    assert status == 400 and "DOCTYPE" in resp["error"], resp  # UTF-16 does not get past the parser either
    assert (await hq.call("POST", "/api/v1/bulletins/cap", role="police", data=doc, headers=xml))[0] == 403
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=doc,
                                 headers={"Content-Type": "application/json"})
    assert status == 415
    elsewhere = cap(info(area="<area><areaDesc>Huyện khác</areaDesc></area>"), ident="VN-KTTV-3")
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=elsewhere,
                                 headers={"Content-Type": "application/xml"})
    assert status == 400 and "thon-1" in resp["error"]
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap?targets=all", role="broadcaster", data=elsewhere,
                                 headers={"Content-Type": "application/xml"})
    assert status == 201 and resp["bulletin"]["targets"]["all"] is True and resp["bulletin"]["priority"] == "emergency"

    cancel = cap(msg_type="Cancel", ident="VN-KTTV-2", refs="kttv@example.vn,VN-KTTV-1,2024-09-07T10:00:00+07:00")
    status, resp = await hq.call("POST", "/api/v1/bulletins/cap", role="broadcaster", data=cancel, headers=xml)
    assert status == 200 and resp["cancelled"] == [b["id"]], resp
    status, resp = await hq.call("GET", f"/api/v1/bulletins/{b['id']}")
    assert resp["bulletin"]["state"] == "cancelled"
    status, audit = await hq.call("GET", "/api/v1/audit")
    entries = [e for e in audit["audit"] if e["target"].startswith("/api/v1/bulletins/cap")]
    assert any(e["detail"].get("cap") == "VN-KTTV-1" and e["status"] == 201 for e in entries), entries
