"""Helpers shared by the broadcaster's pages: targets in words, bulletin lookups, the approvals count."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from hq_server.services.auth import Perm, allowed
from hq_server.storage.tables import Bulletin
from hq_server.ui.fmt import Gettext
from hq_server.web import DB, PRINCIPAL


def targets_text(targets: dict[str, Any], names: dict[str, str], _: Gettext) -> str:
    """"Tất cả các thôn" / "Thôn 1, Thôn 2" / "loa a-1" — the words a broadcaster checks before sending."""
    if targets.get("all"):
        return _("All villages")
    parts = [names.get(z, z) for z in targets.get("zones") or []]
    nodes = targets.get("nodes") or []
    if nodes:
        parts.append(_("loudspeaker(s) %(ids)s") % {"ids": ", ".join(nodes)})
    return ", ".join(parts)


def priority_label(priority: str, _: Gettext) -> str:
    return {"normal": _("Normal"), "priority": _("Priority"), "emergency": _("Emergency")}.get(priority, priority)


async def pending_approvals(request: web.Request) -> int:
    """Emergency bulletins this user may approve (someone else wrote them): shown as a badge in the menu."""
    p = request.get(PRINCIPAL)
    if p is None or not allowed(p.role, Perm.BULLETIN_APPROVE):
        return 0
    async with request.app[DB].sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Bulletin).where(
            Bulletin.state == "awaiting_approval", Bulletin.author != p.username)) or 0)
