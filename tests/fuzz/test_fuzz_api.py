"""Every route of HQ's API under generated and mutated input: no 5xx, and every refusal says why.

The routes come from the same registries that build the app (``hq_server.app.ROUTE_MODULES`` and the web
UI's ``PAGE_MODULES``), so a route
added later is fuzzed without touching this file; ``test_every_registered_route_is_fuzzed`` checks that the
running app has no route outside it. Query parameter names are read from HQ's source, so a
new parameter is fuzzed too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from sqlalchemy import update
from yarl import URL

import hq_server
from hq_server.app import ROUTE_MODULES
from hq_server.storage.tables import ApiToken, User
from hq_server.ui.setup import PAGE_MODULES
from hq_server.web import DB, RouteSpec
from tests.fuzz.conftest import THROWN, budget
from tests.fuzz.strategies import HOSTILE_INSTANT, HOSTILE_TEXT, REALISTIC, json_body

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(1200), pytest.mark.fuzz]

ROUTES: list[RouteSpec] = [spec for module in (*ROUTE_MODULES, *PAGE_MODULES) for spec in module.routes.specs]
_QUERY_RE = re.compile(r"""(?:query(?:\.get)?\(\s*|query\[\s*|query_int\(request,\s*|query_instant\(\s*)"""
                       r"""["']([a-z_]+)["']""")
QUERY_NAMES = sorted({n for src in Path(hq_server.__file__).parent.rglob("*.py")
                      for n in _QUERY_RE.findall(src.read_text("utf-8"))} | {"limit", "from", "to", "format"})
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CONTENT_TYPES = ["application/json"] * 8 + ["application/cap+xml", "audio/wav", "audio/ogg", "image/jpeg",
                                              "text/plain", "multipart/form-data; boundary=x", ""]

PATH_VALUES = st.one_of(
    st.sampled_from(["loa-1", "loa-2", "cam-1", "thon-1", "1", "2", "3"]),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    HOSTILE_TEXT, REALISTIC, st.text(min_size=1, max_size=40),
).filter(lambda v: v not in ("", ".", ".."))
QUERY_VALUES = st.one_of(st.integers(min_value=-(2**66), max_value=2**66).map(str), HOSTILE_TEXT, HOSTILE_INSTANT,
                         REALISTIC, st.sampled_from(["csv", "json", "day", "zone", "node", "all", "1", "0", "-1"]),
                         st.text(max_size=30))


def _quote(value: str) -> str:
    return quote(value, safe="", errors="surrogatepass")


@st.composite
def requests(draw: st.DrawFn, spec: RouteSpec) -> dict[str, Any]:
    path = re.sub(r"\{(\w+)\}", lambda m: _quote(draw(PATH_VALUES)), spec.path)
    names = draw(st.lists(st.one_of(st.sampled_from(QUERY_NAMES), st.text(min_size=1, max_size=10)), max_size=3))
    query = "&".join(f"{_quote(n)}={_quote(draw(QUERY_VALUES))}" for n in names)
    body, ctype = None, None
    if spec.method in BODY_METHODS:
        schema = spec.body.model_json_schema() if spec.body is not None else None
        body = draw(json_body(schema))
        ctype = draw(st.sampled_from(CONTENT_TYPES))
    role = draw(st.sampled_from(["admin"] * 9 + [None]))
    return {"path": path + (f"?{query}" if query else ""), "body": body, "content_type": ctype, "role": role}


async def _send(hq, spec: RouteSpec, req: dict[str, Any]) -> tuple[int, str, Any]:
    headers = dict(hq.headers(req["role"])) if req["role"] else {}
    if req["content_type"] is not None:
        headers["Content-Type"] = req["content_type"]
    url = URL(str(hq.client.make_url("")).rstrip("/") + req["path"], encoded=True)
    async with hq.client.session.request(spec.method, url, data=req["body"], headers=headers) as resp:
        if resp.content_type == "text/event-stream":  # a live stream never ends: its answer is the status
            return resp.status, resp.content_type, None
        body: Any = await resp.read()
        if resp.content_type == "application/json":
            body = await resp.json()
        return resp.status, resp.content_type, body


async def _repair(hq) -> None:
    """Undo what a fuzzed admin may do to its own access (revoke its token, deactivate itself) — not a finding."""
    async with hq.app[DB].sessions() as s:
        await s.execute(update(User).values(active=True))
        await s.execute(update(ApiToken).values(revoked=False))
        await s.commit()


BODY_ROUTES = [s for s in ROUTES if s.method in BODY_METHODS]
OTHER_ROUTES = [s for s in ROUTES if s.method not in BODY_METHODS]


@pytest.mark.parametrize("spec", BODY_ROUTES, ids=[f"{s.method} {s.path}" for s in BODY_ROUTES])
@settings(max_examples=budget("body_route"))
@given(data=st.data())
async def test_route_with_a_body(fuzz_hq, spec: RouteSpec, data: st.DataObject) -> None:
    """Routes that take a body: generated, mutated and hostile bodies, parameters and content types."""
    await _check(fuzz_hq, spec, data.draw(requests(spec)))


@pytest.mark.parametrize("spec", OTHER_ROUTES, ids=[f"{s.method} {s.path}" for s in OTHER_ROUTES])
@settings(max_examples=budget("route"))
@given(data=st.data())
async def test_route_without_a_body(fuzz_hq, spec: RouteSpec, data: st.DataObject) -> None:
    """Reading routes and pages: hostile path and query parameters."""
    await _check(fuzz_hq, spec, data.draw(requests(spec)))


async def _check(fuzz_hq, spec: RouteSpec, req: dict[str, Any]) -> None:
    """No 5xx; an API refusal is JSON with a reason (a page's refusal is a page with text)."""
    note(f"{spec.method} {req['path']} content-type={req['content_type']!r} role={req['role']} "
         f"body={req['body'][:300]!r}" if req["body"] is not None else f"{spec.method} {req['path']}")
    status, ctype, body = await _send(fuzz_hq, spec, req)
    THROWN["http"] += 1
    note(f"→ {status} {ctype} {str(body)[:300]}")
    assert status < 500, f"{spec.method} {req['path']} answered {status}: {str(body)[:300]}"
    if status >= 400 and not spec.path.startswith("/api/"):
        assert body, f"{status} with an empty answer"
    elif status >= 400:
        if ctype == "text/plain" and status in (400, 431):  # refused by aiohttp's HTTP parser (e.g. URL > 8 KiB)
            assert body.strip(), f"{status} without a reason"
        else:
            assert ctype == "application/json" and isinstance(body, dict), f"{status} without a JSON error: {body!r}"
            assert isinstance(body.get("error"), str) and body["error"].strip(), f"{status} without a reason: {body}"
    if spec.method in BODY_METHODS:
        await _repair(fuzz_hq)


async def test_every_registered_route_is_fuzzed(fuzz_hq) -> None:
    """A route wired into the app outside ROUTE_MODULES would escape the fuzzing: there is none."""
    app_routes = {(s.method, s.path) for r in fuzz_hq.app.router.routes()
                  if (s := getattr(r, "_loaxa_spec", None)) is not None}
    assert app_routes == {(s.method, s.path) for s in ROUTES}
    assert len(ROUTES) >= 40 and "limit" in QUERY_NAMES and "from" in QUERY_NAMES
