"""Villages (zones) as the broadcaster knows them: Vietnamese names, loudspeakers, online counts.

Names come from HQ's zone registry (``zones`` table: slug + display name, e.g. ``thon-1`` → "Thôn 1"), the
one place villages are named; a zone a node claimed that nobody has named yet shows its slug until a
technician names it. The matching helpers are pure: diacritics-insensitive search and "did you mean"
suggestions, so a misspelled village is never silently chosen.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.storage.tables import Node, Zone


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


async def registry_names(session: AsyncSession) -> dict[str, str]:
    """Every zone of the registry → its display name."""
    return {z.slug: z.name for z in (await session.scalars(select(Zone))).all()}


async def load(session: AsyncSession) -> list[Village]:
    """Villages that have loudspeakers, named from the registry, with their nodes and how many are online."""
    registry = await registry_names(session)
    nodes = (await session.scalars(select(Node).order_by(Node.id))).all()
    out: dict[str, Village] = {}
    for n in nodes:
        if n.kind == "camera":
            continue
        for z in n.zones or []:
            v = out.setdefault(z, Village(z, registry.get(z, z)))
            v.nodes.append(n.id)
            v.online += n.state == "online"
    return sorted(out.values(), key=lambda v: natural_key(v.name))


def natural_key(name: str) -> list[object]:
    """"Thôn 2" before "Thôn 10"."""
    return [int(w) if w.isdigit() else w for w in fold(name).split()]


def names(villages: list[Village]) -> dict[str, str]:
    return {v.id: v.name for v in villages}


async def zone_names(session: AsyncSession) -> dict[str, str]:
    """Every zone HQ knows → its display name, in natural order ("Thôn 2" before "Thôn 10")."""
    names = await registry_names(session)
    for zs in (await session.scalars(select(Node.zones))).all():  # a node's zone missing from the registry
        names.update({z: z for z in zs or [] if z not in names})
    return dict(sorted(names.items(), key=lambda kv: natural_key(kv[1])))
