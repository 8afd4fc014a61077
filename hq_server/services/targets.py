"""A bulletin's targets checked against HQ's registry: every zone and node it names must exist.

Zones are resolved by slug or Vietnamese name (:mod:`hq_server.services.zones`); named nodes must be
registered or have been seen, and must have a loudspeaker (a ``camera`` node cannot play a bulletin).
Each unknown name is refused with the closest known ones, so a typo never becomes a bulletin that
reaches nobody.
"""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.errors import ApiError
from hq_server.services import zones
from hq_server.storage.tables import Node


def _unknown_node(ident: str, known: list[str]) -> str:
    close = difflib.get_close_matches(ident, known, n=3, cutoff=0.5)
    if close:
        names = ", ".join(f"'{c}'" for c in close)
        return f"không có loa '{ident}'; có phải {names}? (no node '{ident}'; did you mean {names}?)"
    return f"không có loa '{ident}' (no node '{ident}' is registered or has been seen)"


async def resolve_targets(session: AsyncSession, targets: dict[str, Any]) -> dict[str, Any]:
    """``targets`` with zone names replaced by slugs; 400 with a field per unknown zone or node."""
    errors: dict[str, str] = {}
    registry = await zones.load(session)
    try:
        zone_slugs = registry.resolve(targets.get("zones") or [], "targets.zones")
    except ApiError as err:
        zone_slugs = []
        errors.update(err.fields or {})
    named = list(dict.fromkeys(targets.get("nodes") or []))
    nodes = {n.id: n for n in (await session.scalars(select(Node).where(Node.id.in_(named)))).all()} if named else {}
    missing = [i for i in named if i not in nodes]
    known_ids = list((await session.scalars(select(Node.id))).all()) if missing else []
    for i, ident in enumerate(named):
        node = nodes.get(ident)
        if node is None:
            errors[f"targets.nodes.{i}"] = _unknown_node(ident, known_ids)
        elif node.kind == "camera":
            errors[f"targets.nodes.{i}"] = (f"'{ident}' là nút camera, không có loa (a camera-only node has no "
                                            "loudspeaker)")
    if errors:
        raise ApiError(400, "Đích phát không hợp lệ (unknown or unsuitable targets)", errors)
    return {"all": bool(targets.get("all")), "zones": zone_slugs, "nodes": named}
