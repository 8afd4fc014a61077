"""CAP 1.2 (OASIS Common Alerting Protocol) → bulletin fields. Pure: bytes in, a :class:`CapImport` out.

Safety: the document is parsed by defusedxml, which refuses any DOCTYPE (and so every ENTITY declaration)
inside the parser, whatever the document's encoding (UTF-8, UTF-16, Latin-1…): no entity expansion —
"billion laughs" — and no external entities. A byte-level check before parsing is not enough: in UTF-16
``<!DOCTYPE`` is not the ASCII bytes a pattern would look for. The caller caps the size
(:data:`MAX_CAP_BYTES`); :func:`parse_xml` checks it again.

Mapping (DESIGN.md "A bulletin": field meanings follow CAP 1.2):

* ``status`` Actual → ``actual``; Exercise, Test → ``test``; System, Draft → refused (not broadcastable);
* ``msgType`` Alert → new bulletin; Update → new bulletin that also cancels the ``references``;
  Cancel → cancel the bulletins imported from the ``references``; Ack, Error → refused;
* the ``info`` in ``vi``/``vi-VN`` if any, else the first; ``headline`` (else ``event``) → title;
  ``description`` + ``instruction`` → text (≤ 5 000 characters);
* priority: urgency Immediate or severity Extreme/Severe → emergency; Expected + Moderate → priority;
  else normal; ``expires`` → expires_at;
* targets: ``geocode`` values equal to a zone id, or ``areaDesc`` items (split on , ; /) whose
  slug ("Thôn 1" → "thon-1") is a zone id; none → refused with the known zones, unless ``all_targets``.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from loaxa_contract.limits import MAX_TEXT_CHARS

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_CAP_BYTES = 256 * 1024
TITLE_MAX = 200
_NS = {"cap": CAP_NS}


class CapError(ValueError):
    """A CAP document that cannot become a bulletin (answered 400, or ``status``)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.fields, self.status = message, fields, status


@dataclass
class CapImport:
    identifier: str
    sender: str
    msg_type: str  # Alert, Update, Cancel
    status: str  # actual, test
    references: list[tuple[str, str]] = field(default_factory=list)  # (sender, identifier)
    bulletin: dict[str, Any] | None = None  # BulletinIn fields (None for Cancel)
    language: str | None = None


def slug(text: str) -> str:
    """'Thôn Đông 1' → 'thon-dong-1' (the zone id convention)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def parse_xml(data: bytes) -> ET.Element:
    if len(data) > MAX_CAP_BYTES:
        raise CapError(f"Tài liệu CAP quá lớn (CAP document over {MAX_CAP_BYTES // 1024} KiB)", status=413)
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise CapError("Không chấp nhận khai báo DOCTYPE/ENTITY (DOCTYPE and ENTITY declarations are refused)",
                       {"body": type(err).__name__}) from err
    except (ET.ParseError, ValueError, LookupError) as err:  # LookupError: an encoding Python does not know
        raise CapError(f"XML không hợp lệ (invalid XML): {str(err)[:200]}", {"body": "invalid XML"}) from err
    if root.tag != f"{{{CAP_NS}}}alert":
        raise CapError(f"Không phải cảnh báo CAP 1.2 (root must be <alert> in namespace {CAP_NS})")
    return root


def _text(el: ET.Element, name: str) -> str:
    found = el.find(f"cap:{name}", _NS)
    return (found.text or "").strip() if found is not None else ""


def _required(el: ET.Element, name: str) -> str:
    value = _text(el, name)
    if not value:
        raise CapError(f"Thiếu trường CAP '{name}' (missing CAP element)", {name: "required"})
    return value


def priority_for(urgency: str, severity: str) -> str:
    if urgency == "Immediate" or severity in ("Extreme", "Severe"):
        return "emergency"
    if urgency == "Expected" and severity == "Moderate":
        return "priority"
    return "normal"


def _pick_info(infos: list[ET.Element]) -> ET.Element:
    for info in infos:
        if _text(info, "language").lower() in ("vi", "vi-vn"):
            return info
    return infos[0]


def _targets(info: ET.Element, known_zones: set[str], all_targets: bool) -> dict[str, Any]:
    if all_targets:
        return {"all": True}
    found: list[str] = []
    for area in info.findall("cap:area", _NS):
        candidates = [(g.findtext("cap:value", "", _NS) or "").strip() for g in area.findall("cap:geocode", _NS)]
        candidates += [slug(part) for part in re.split(r"[,;/]", _text(area, "areaDesc"))]
        candidates += [slug(c) for c in candidates]
        for c in candidates:
            if c in known_zones and c not in found:
                found.append(c)
    if not found:
        known = ", ".join(sorted(known_zones)) or "(none)"
        raise CapError(f"Vùng CAP không khớp khu vực nào (no CAP area matches a zone; known zones: {known}; "
                       "use ?targets=all to send to every loudspeaker)", {"area": f"known zones: {known}"})
    return {"zones": found}


def _expires(info: ET.Element) -> str | None:
    raw = _text(info, "expires")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as err:
        raise CapError("Thời hạn CAP không hợp lệ (invalid CAP expires)", {"expires": raw[:40]}) from err
    if value.tzinfo is None:
        raise CapError("Thời hạn CAP cần múi giờ (CAP expires needs a time zone offset)", {"expires": raw[:40]})
    return value.isoformat()


def _references(raw: str) -> list[tuple[str, str]]:
    out = []
    for item in raw.split():
        parts = item.split(",")
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def cap_to_bulletin(data: bytes, known_zones: set[str], all_targets: bool = False) -> CapImport:
    """Parse and map one CAP 1.2 alert; raises :class:`CapError` with a clear reason."""
    root = parse_xml(data)
    identifier, sender = _required(root, "identifier"), _required(root, "sender")
    status_raw, msg_type = _required(root, "status"), _required(root, "msgType")
    status = {"Actual": "actual", "Exercise": "test", "Test": "test"}.get(status_raw)
    if status is None:
        raise CapError(f"Trạng thái CAP '{status_raw}' không phát được (status not broadcastable)",
                       {"status": "must be Actual, Exercise or Test"})
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise CapError(f"Loại tin CAP '{msg_type}' không phát được (msgType not broadcastable)",
                       {"msgType": "must be Alert, Update or Cancel"})
    refs = _references(_text(root, "references"))
    result = CapImport(identifier=identifier[:200], sender=sender[:200], msg_type=msg_type, status=status,
                       references=refs)
    if msg_type == "Cancel":
        if not refs:
            raise CapError("Tin huỷ CAP cần 'references' (a CAP Cancel needs references)", {"references": "required"})
        return result
    infos = root.findall("cap:info", _NS)
    if not infos:
        raise CapError("Cảnh báo CAP không có 'info' (no info block)", {"info": "required"})
    info = _pick_info(infos)
    result.language = _text(info, "language") or "en-US"
    headline = _text(info, "headline") or _text(info, "event")
    text = "\n\n".join(p for p in (_text(info, "description"), _text(info, "instruction")) if p) or headline
    if not text:
        raise CapError("Cảnh báo CAP không có nội dung (no headline, description or instruction)",
                       {"description": "required"})
    if len(text) > MAX_TEXT_CHARS:
        raise CapError(f"Nội dung CAP dài {len(text)} ký tự, tối đa {MAX_TEXT_CHARS} (description + instruction "
                       f"too long: {len(text)} > {MAX_TEXT_CHARS} characters)",
                       {"description": f"{len(text)} > {MAX_TEXT_CHARS} characters"})
    if len(headline) > TITLE_MAX:
        headline = headline[: TITLE_MAX - 1] + "…"
    result.bulletin = {
        "title": headline, "kind": "text", "text": text, "status": status,
        "priority": priority_for(_text(info, "urgency"), _text(info, "severity")),
        "targets": _targets(info, known_zones, all_targets),
    }
    if (expires := _expires(info)) is not None:
        result.bulletin["expires_at"] = expires
    return result
