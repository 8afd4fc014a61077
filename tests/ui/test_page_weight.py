"""First-visit weight of the technician's, the police post's and the administrator's pages (≤ 200 KB each at phone
width, empty cache, fonts and chart library included), in Debian's Chromium against a real HQ.

The broadcaster's compose page, the statistics page and the camera wall are measured in
``test_broadcaster_browser.py``; the figures of both land in ``var/screenshots/page-weight.json``.
"""

from __future__ import annotations

import pytest

from hq_server.storage.tables import Camera, CameraEvent, Node, NodeEvent, now
from hq_server.web import DB
from tests.hq.fixtures import Hq
from tests.ui.browser import PAGE_WEIGHT_LIMIT, browser, first_visit_bytes  # noqa: F401  (browser: fixture)

pytestmark = pytest.mark.integration
PAGES = [("technician-1", "/nodes", None), ("technician-1", "/map", None),
         ("technician-1", "/nodes/thon1-loa-a", '#history[data-loaded="24h"]'), ("technician-1", "/nodes/new", None),
         ("police-1", "/cameras/cong-truong", None), ("police-1", "/alerts", None), ("admin-1", "/users", None),
         ("admin-1", "/tokens", None), ("admin-1", "/audit", None), ("admin-1", "/settings", None)]


async def records(hq: Hq) -> None:
    """A loudspeaker and a camera node with a position, a camera and their histories: pages with content."""
    await hq.add_zones("thon-1")
    async with hq.app[DB].sessions() as s:
        s.add_all([Node(id="thon1-loa-a", zones=["thon-1"], state="online", lat=21.0285, lon=105.8542,
                        last_seen_at=now(), state_since=now()),
                   Node(id="cam-node-1", kind="camera", zones=["thon-1"], state="online", lat=21.03, lon=105.86,
                        last_seen_at=now(), state_since=now()),
                   NodeEvent(node_id="thon1-loa-a", event="online"),
                   Camera(id="cong-truong", name="Cổng trường", node_id="cam-node-1", zone="thon-1", status="ok"),
                   CameraEvent(camera_id="cong-truong", status="ok")])
        await s.commit()


@pytest.mark.parametrize(("user", "path", "ready"), PAGES, ids=[p.strip("/").replace("/", "-") for _, p, _ in PAGES])
async def test_first_visit_is_small(hq: Hq, browser, user: str, path: str, ready: str | None) -> None:  # noqa: F811
    await records(hq)
    total = await first_visit_bytes(browser, hq, user, path, ready)
    assert total <= PAGE_WEIGHT_LIMIT, f"{path}: {total} bytes > {PAGE_WEIGHT_LIMIT}"
