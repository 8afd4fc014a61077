"""Navigation by role: one table for every role's pages, shown when the user's role may open them.

The broadcaster's pages are here now; the technician's, police post's and administrator's pages
have their slots (path, permission, label) and appear in the menu as soon as a route serves that path,
so adding such a page is: register its route, nothing else here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hq_server.services.auth import Perm, allowed
from hq_server.ui.fmt import Gettext
from hq_server.web import Principal


@dataclass(frozen=True)
class NavItem:
    path: str
    perm: Perm
    label: str  # English message id, translated when shown
    group: str  # "broadcast", "fleet", "police", "admin"


def _(s: str) -> str:  # marks a message for extraction; translated at display time
    return s


NAV: tuple[NavItem, ...] = (
    NavItem("/", Perm.BULLETIN_READ, _("Today"), "broadcast"),
    NavItem("/compose", Perm.BULLETIN_WRITE, _("New bulletin"), "broadcast"),
    NavItem("/relay", Perm.BULLETIN_WRITE, _("Relay"), "broadcast"),
    NavItem("/calendar", Perm.BULLETIN_READ, _("Calendar"), "broadcast"),
    NavItem("/history", Perm.BULLETIN_READ, _("History"), "broadcast"),
    NavItem("/approvals", Perm.BULLETIN_APPROVE, _("Approvals"), "broadcast"),
    # slots for the technician, police post and administrator pages
    NavItem("/nodes", Perm.FLEET_READ, _("Loudspeakers"), "fleet"),
    NavItem("/map", Perm.FLEET_READ, _("Map"), "fleet"),
    NavItem("/cameras", Perm.CAMERA_READ, _("Cameras"), "police"),
    NavItem("/alerts", Perm.ALERT_READ, _("Alerts"), "police"),
    NavItem("/users", Perm.USER_ADMIN, _("Users"), "admin"),
    NavItem("/tokens", Perm.USER_ADMIN, _("API tokens"), "admin"),
    NavItem("/audit", Perm.AUDIT_READ, _("Audit log"), "admin"),
    NavItem("/statistics", Perm.REPORT_READ, _("Statistics"), "admin"),
    NavItem("/settings", Perm.USER_ADMIN, _("Settings"), "admin"),
)


def _served(app: web.Application, path: str) -> bool:
    return any(getattr(r, "_loaxa_spec", None) is not None and r._loaxa_spec.path == path  # type: ignore[attr-defined]
               and r._loaxa_spec.html for r in app.router.routes())  # type: ignore[attr-defined]


def available(app: web.Application, principal: Principal) -> list[NavItem]:
    return [item for item in NAV if allowed(principal.role, item.perm) and _served(app, item.path)]


def nav_for(request: web.Request, principal: Principal, gettext: Gettext) -> list[dict[str, object]]:
    here = request.path
    return [{"path": i.path, "label": gettext(i.label), "group": i.group,
             "current": here == i.path or (i.path != "/" and here.startswith(i.path + "/"))}
            for i in available(request.app, principal)]


def home_for(app: web.Application, principal: Principal) -> str | None:
    """Where a user lands after logging in: their role's own first page (a technician the loudspeakers, the
    police post the cameras; the broadcast pages only for those who broadcast), None if no page serves them."""
    items = available(app, principal)
    own = [i for i in items if i.group != "broadcast"] if not allowed(principal.role, Perm.BULLETIN_WRITE) else []
    return (own or items)[0].path if items else None
