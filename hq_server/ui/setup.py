"""Wire the web UI into the HQ app: assets, template environments, error pages, page routes."""

from __future__ import annotations

from aiohttp import web

from hq_server.ui.assets import Assets
from hq_server.ui.pages import account, admin, broadcast, fleet, police, records
from hq_server.ui.pages.common import pending_approvals
from hq_server.ui.render import ASSETS, PENDING_APPROVALS, setup_environments
from hq_server.web import HTML_ERRORS, add_routes

PAGE_MODULES = (account, broadcast, records, fleet, police, admin)


def setup_ui(app: web.Application) -> None:
    assets = Assets()
    app[ASSETS] = assets
    setup_environments(app, assets)
    app[HTML_ERRORS] = account.html_error
    app[PENDING_APPROVALS] = pending_approvals
    for module in PAGE_MODULES:
        add_routes(app, module.routes)
