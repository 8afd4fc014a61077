"""The zone registry: which villages exist, their Vietnamese names, and resolving what a user typed.

Why a registry? Zones used to exist only as strings on nodes: a misspelt target (``thon-7``, ``thon-l``)
was accepted and reached nobody, and broadcasters saw slugs instead of "Thôn 1". Now every zone a
bulletin, a programme, a node or a camera names must be in ``zones`` (slug + display name); a reference
is accepted by slug or by name, case and diacritics aside ("Thôn 1", "thon 1", "thon-1"), and an unknown
one is refused with the closest known zones ("did you mean …").

Zones come from technicians and admins (``POST /api/v1/zones``) and from the field: a zone a node
claims in its own configuration at first contact is registered with its slug as name, to be renamed.
The matching here is pure; the database helpers only load and add rows.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.errors import ApiError
from hq_server.storage.tables import Zone, now
from loaxa_contract.topics import valid_id

logger = logging.getLogger(__name__)


def slugify(text: str) -> str:
    """'Thôn Đông 1' → 'thon-dong-1' (the zone id convention: safe in topics and URLs)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:64]


_LOOKALIKE = str.maketrans("loi", "101")


def _lookalike(key: str) -> str:
    return key.translate(_LOOKALIKE)


@dataclass(frozen=True)
class ZoneRef:
    slug: str
    name: str


class Registry:
    """Known zones, indexed by slug and by the slug of their name (pure lookups)."""

    def __init__(self, zones: Iterable[ZoneRef]) -> None:
        self.zones = sorted(zones, key=lambda z: z.slug)
        self._by_key: dict[str, str] = {}
        for z in self.zones:
            self._by_key.setdefault(slugify(z.name), z.slug)
        for z in self.zones:  # a slug wins over another zone's name
            self._by_key[z.slug] = z.slug

    def name_of(self, slug: str) -> str:
        return next((z.name for z in self.zones if z.slug == slug), slug)

    def find(self, ref: str) -> str | None:
        """The slug ``ref`` designates (by slug or by name), or None."""
        return self._by_key.get(ref) or self._by_key.get(slugify(ref))

    def suggest(self, ref: str, n: int = 3) -> list[ZoneRef]:
        """Known zones closest to ``ref`` (by slug and by name), best first; a look-alike typo (``l`` for
        ``1``, ``o`` for ``0``) ranks first."""
        key = slugify(ref) or ref
        scored = [(k, difflib.SequenceMatcher(None, key, k).ratio()) for k in self._by_key]
        keys = [k for k, r in sorted(scored, key=lambda kr: (_lookalike(kr[0]) != _lookalike(key), -kr[1], kr[0]))
                if r >= 0.5 or _lookalike(k) == _lookalike(key)]
        out: list[ZoneRef] = []
        for key in keys:
            z = next(z for z in self.zones if z.slug == self._by_key[key])
            if z not in out:
                out.append(z)
        return out[:n]

    def unknown_message(self, ref: str) -> str:
        hint = self.suggest(ref)
        if hint:
            names = ", ".join(f"'{z.slug}' ({z.name})" if z.name != z.slug else f"'{z.slug}'" for z in hint)
            return f"không có khu vực '{ref}'; có phải {names}? (no zone '{ref}'; did you mean {names}?)"
        known = ", ".join(z.slug for z in self.zones[:20]) or "chưa có (none yet)"
        return (f"không có khu vực '{ref}' (no zone '{ref}'; known: {known}; "
                f"create it with POST /api/v1/zones)")

    def resolve_one(self, ref: str, field: str) -> str:
        """The slug ``ref`` designates; 400 on ``field`` with the closest known zones if none."""
        found = self.find(ref)
        if found is None:
            raise ApiError(400, "Khu vực không tồn tại (unknown zone)", {field: self.unknown_message(ref)})
        return found

    def resolve(self, refs: Iterable[str], field: str) -> list[str]:
        """Slugs for ``refs`` in order, without duplicates; 400 naming each unknown one (``field.i``)."""
        out: list[str] = []
        errors: dict[str, str] = {}
        for i, ref in enumerate(refs):
            found = self.find(ref)
            if found is None:
                errors[f"{field}.{i}"] = self.unknown_message(ref)
            elif found not in out:
                out.append(found)
        if errors:
            raise ApiError(400, "Khu vực không tồn tại (unknown zone)", errors)
        return out


async def load(session: AsyncSession) -> Registry:
    return Registry(ZoneRef(z.slug, z.name) for z in (await session.scalars(select(Zone))).all())


async def register_claimed(session: AsyncSession, slugs: Iterable[str], claimed_by: str) -> list[str]:
    """Register zones a node claims that HQ does not know yet (name = slug until someone names them)."""
    return await register_claims(session, dict.fromkeys(slugs, claimed_by))


async def register_claims(session: AsyncSession, claims: dict[str, str]) -> list[str]:
    """:func:`register_claimed` for many nodes at once (zone slug → the node that claimed it first): one
    query whatever the number of births in a batch."""
    wanted = {s: node for s, node in claims.items() if valid_id(s)}
    if not wanted:
        return []
    known = set((await session.scalars(select(Zone.slug).where(Zone.slug.in_(sorted(wanted))))).all())
    added = [s for s in wanted if s not in known]
    if not added:
        return []
    t = now()
    rows = [{"slug": s, "name": s, "created_by": f"node:{wanted[s]}", "created_at": t, "updated_at": t}
            for s in added]
    # a technician may create the same zone at this moment: never fail the node's state message for it
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    await session.execute(insert(Zone).values(rows).on_conflict_do_nothing(index_elements=["slug"]))
    for s in added:
        logger.info("zone %s registered from node %s's claim; name it with PATCH /api/v1/zones/%s", s, wanted[s], s)
    return added
