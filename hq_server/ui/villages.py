"""Villages (zones) as the broadcaster knows them: Vietnamese names, loudspeakers, online counts.

Until HQ has a zones registry with display names, the list is derived from the nodes' zones and a
name is made from the zone id: ids carry no diacritics, so only the kind of place gets its Vietnamese
word and the rest is capitalised ("thon-1" → "Thôn 1", "xom-dong" → "Xóm Dong"). The
matching helpers are pure: diacritics-insensitive search and "did you mean" suggestions, so a
misspelled village is never silently chosen.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.storage.tables import Node

# Vietnamese words for the usual kinds of village unit, as they appear at the start of a zone id
_KINDS = {"thon": "Thôn", "xom": "Xóm", "ap": "Ấp", "ban": "Bản", "to": "Tổ", "khu": "Khu", "lang": "Làng",
          "buon": "Buôn", "khom": "Khóm", "doi": "Đội", "cum": "Cụm", "xa": "Xã", "phuong": "Phường"}


def display_name(zone_id: str) -> str:
    words = [w for w in zone_id.replace("_", "-").split("-") if w]
    if not words:
        return zone_id
    head = _KINDS.get(words[0].lower(), words[0].capitalize())
    return " ".join([head, *(w.upper() if len(w) <= 2 and not w.isdigit() else w.capitalize() for w in words[1:])])


def fold(text: str) -> str:
    """Lower case without diacritics (đ → d): what a person may type on a phone without a Vietnamese IME."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if unicodedata.category(c) != "Mn").split())


@dataclass
class Village:
    id: str
    name: str
    nodes: list[str] = field(default_factory=list)
    online: int = 0


def match(query: str, villages: list[Village]) -> list[Village]:
    """Villages whose name or id contains the query (diacritics and case ignored)."""
    q = fold(query)
    return [v for v in villages if q and (q in fold(v.name) or q in fold(v.id))]


def suggest(query: str, villages: list[Village], n: int = 3) -> list[Village]:
    """Closest names for a query that matches nothing (the "did you mean" list)."""
    by_fold = {fold(v.name): v for v in villages}
    close = difflib.get_close_matches(fold(query), list(by_fold), n=n, cutoff=0.5)
    return [by_fold[c] for c in close]


async def load(session: AsyncSession) -> list[Village]:
    nodes = (await session.scalars(select(Node).order_by(Node.id))).all()
    out: dict[str, Village] = {}
    for n in nodes:
        if n.kind == "camera":
            continue
        for z in n.zones or []:
            v = out.setdefault(z, Village(z, display_name(z)))
            v.nodes.append(n.id)
            v.online += n.state == "online"
    return sorted(out.values(), key=lambda v: natural_key(v.name))


def natural_key(name: str) -> list[object]:
    """"Thôn 2" before "Thôn 10"."""
    return [int(w) if w.isdigit() else w for w in fold(name).split()]


def names(villages: list[Village]) -> dict[str, str]:
    return {v.id: v.name for v in villages}


async def zone_names(session: AsyncSession) -> dict[str, str]:
    """Every zone HQ knows (on nodes, cameras, programme/volume settings) → its Vietnamese display name."""
    from hq_server.storage.tables import Camera, DesiredSetting

    slugs = {z for zs in (await session.scalars(select(Node.zones))).all() for z in (zs or [])}
    slugs |= {z for z in (await session.scalars(select(Camera.zone))).all() if z}
    slugs |= set((await session.scalars(select(DesiredSetting.scope_id).where(DesiredSetting.scope == "zone"))).all())
    return {z: display_name(z) for z in sorted(slugs, key=lambda z: natural_key(display_name(z)))}
